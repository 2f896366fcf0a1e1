"""Destinations outside the guided setup, in-process: add, refuse, configure, test, delete."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from shoal.destinations.webhook import SIGNATURE_HEADER, verify
from tests.destinations.receiver import Receiver
from tests.inprocess import App
from tests.web.ui.pages import Signed, alerts, notices, text, ui_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ui_app(tmp_path_factory.mktemp("destinations")) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver(lambda _request: (200, {"thanks": "got it"})) as running:
        yield running


def _form(name: str, url: str, *source_ids: str, **settings: str) -> dict[str, Any]:
    return {
        "type": "webhook",
        "name": name,
        "setting.url": url,
        **{f"setting.{k}": v for k, v in settings.items()},
        "source_id": list(source_ids),
    }


def test_adding_refuses_bad_input_with_the_form_kept(app: App, receiver: Receiver) -> None:
    page = Signed(app.client)
    source = app.source("refusals")
    cases = [
        (_form("", receiver.url, source["id"]), "Give the destination a name."),
        (_form("x", "http://10.1.2.3/hook", source["id"]), "SHOAL_DESTINATIONS_ALLOWED_NETWORKS"),
        (_form("x", receiver.url, source["id"], headers="[1]"), "write a JSON object"),
        (_form("x", "short", source["id"]), "url"),
        (_form("x", receiver.url, source["id"], batch_size="0"), "batch_size"),
    ]
    for form, words in cases:
        # Hyphens never occur in generated ids, so this cannot match one by chance (a bare
        # "s3" once matched a random source id on the page).
        answer = page.post(
            "/destinations/new?env=dev", form | {"setting.shared_secret": "never-shown-s3"}
        )
        assert answer.status_code == 422, form
        assert words in " ".join(alerts(answer)), (words, alerts(answer))
        assert f'value="{form["name"]}"' in answer.text  # what was typed stays
        assert "never-shown-s3" not in answer.text  # a secret is never sent back
    unknown = page.get("/destinations/new?type=carrier-pigeon")
    assert unknown.status_code == 422
    assert "no destination type 'carrier-pigeon'" in " ".join(alerts(unknown))
    lost = page.post("/destinations/new", {"type": "", "name": "x"})
    assert "Choose a destination type" in " ".join(alerts(lost))
    assert app.client.get("/api/v1/destinations", headers=app.auth).json()["destinations"] == []


def test_add_test_and_configure_a_webhook(app: App, receiver: Receiver) -> None:
    page = Signed(app.client)
    web, api = app.source("web"), app.source("api")
    created = page.post(
        "/destinations/new?env=dev",
        _form("Orders hook", receiver.url + "/hook", web["id"], shared_secret="s3cret"),
    )
    assert created.status_code == 200 and "Created dev destination 'Orders hook'." in notices(
        created
    )
    destination_id = created.url.path.rsplit("/", 1)[1]
    assert "set (secret, not shown)" in created.text and "s3cret" not in created.text
    assert "Orders hook" in page.get("/destinations").text
    assert "No prod destinations yet" in page.get("/destinations?env=prod").text
    page.get("/destinations?env=dev")

    # The test event reaches the receiver, signed; its answer is on the page.
    tested = page.post(f"/destinations/{destination_id}/test")
    answer = text(tested.text)
    assert "The vendor accepted the test event." in answer and "HTTP 200" in answer
    assert '{"thanks": "got it"}' in answer
    sample = receiver.accepted()[-1]
    assert json.loads(sample.body)["batch"][0]["event"] == "Test Event Sent"
    assert verify("s3cret", sample.headers[SIGNATURE_HEADER], sample.body)
    # With htmx only the test card comes back, to be swapped in where it was.
    card = page.client.post(f"/destinations/{destination_id}/test", headers={"HX-Request": "true"})
    assert card.status_code == 200 and card.text.lstrip().startswith("<section")
    assert 'id="test-section"' in card.text and "The vendor accepted the test event." in text(
        card.text
    )
    assert "<html" not in card.text

    # Settings: a blank secret is kept, a blank plain input goes back to its default,
    # sources are connected and disconnected.
    form = page.get(f"/destinations/{destination_id}/settings")
    assert 'placeholder="set — leave blank to keep it"' in form.text
    saved = page.post(
        f"/destinations/{destination_id}/settings",
        _form("Orders hook", receiver.url + "/v2", api["id"], method="PUT", headers='{"X": "1"}')
        | {"setting.shared_secret": "", "setting.batch": ["false", "true"]},
    )
    assert "Settings saved" in " ".join(notices(saved))
    now = app.client.get(f"/api/v1/destinations/{destination_id}", headers=app.auth).json()
    assert now["settings"]["method"] == "PUT" and now["settings"]["url"].endswith("/v2")
    assert now["settings"]["headers"] == {"X": "1"}
    assert now["secrets_set"] == ["shared_secret"] and now["source_ids"] == [api["id"]]
    # The configuration reads as JSON and yes/no, not as Python values.
    shown = text(page.get(f"/destinations/{destination_id}").text)
    assert 'headers {"X": "1"}' in shown and "batch yes" in shown
    assert "True" not in shown and "{'X'" not in shown
    cleared = page.post(
        f"/destinations/{destination_id}/settings",
        _form("Orders hook", receiver.url + "/v2", api["id"], method="PUT", headers="")
        | {"clear.shared_secret": "true"},
    )
    assert cleared.status_code == 200
    now = app.client.get(f"/api/v1/destinations/{destination_id}", headers=app.auth).json()
    assert now["secrets_set"] == [] and now["settings"]["headers"] == {}
    refused = page.post(
        f"/destinations/{destination_id}/settings", _form("Orders hook", "http://10.0.0.9/x")
    )
    assert refused.status_code == 422 and "SHOAL_DESTINATIONS_ALLOWED_NETWORKS" in refused.text


def test_enable_disable_and_delete(app: App, receiver: Receiver) -> None:
    page = Signed(app.client)
    source = app.source("toggle")
    created = page.post("/destinations/new?env=dev", _form("Toggle", receiver.url, source["id"]))
    destination_id = created.url.path.rsplit("/", 1)[1]
    # With htmx the panel is swapped in place; without, the page comes back with a notice.
    fragment = page.client.post(
        f"/destinations/{destination_id}/enabled",
        data={"enabled": "false"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="enabled')
    assert "Enable destination" in fragment.text
    api = f"/api/v1/destinations/{destination_id}"
    assert app.client.get(api, headers=app.auth).json()["enabled"] is False
    enabled = page.post(f"/destinations/{destination_id}/enabled", {"enabled": "true"})
    assert "Destination enabled" in " ".join(notices(enabled))
    assert app.client.get(api, headers=app.auth).json()["enabled"] is True
    assert "cannot be undone" in page.get(f"/destinations/{destination_id}/delete").text
    deleted = page.post(f"/destinations/{destination_id}/delete")
    assert "Deleted destination 'Toggle'." in notices(deleted)
    assert app.client.get(api, headers=app.auth).status_code == 404
    for path in ("", "/settings", "/deliveries", "/delete"):
        gone = page.get(f"/destinations/{destination_id}{path}")
        assert gone.status_code == 404 and "Destination not found" in gone.text
    for path in ("/test", "/enabled", "/settings", "/delete", "/replay"):
        assert page.post(f"/destinations/{destination_id}{path}").status_code == 404


def test_forms_without_the_csrf_token_are_refused(app: App) -> None:
    Signed(app.client)
    for path in ("/destinations/new", "/destinations/dst_x/test", "/destinations/dst_x/replay"):
        answer = app.client.post(path, data={"name": "x"})
        assert answer.status_code == 403 and "This form has expired" in answer.text
    assert re.search(r"Sign out", app.client.get("/destinations").text)
