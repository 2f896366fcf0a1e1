"""Tracking plan screens in-process: create, edit rules, refusals, members, violations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.inprocess import App, basic
from tests.web.ui.pages import Signed, alerts, notices, text, ui_app, wait_until


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ui_app(tmp_path_factory.mktemp("plans")) as running:
        yield running


def _plan(app: App, plan_id: str) -> dict[str, object]:
    found: dict[str, object] = app.client.get(f"/api/v1/plans/{plan_id}", headers=app.auth).json()
    return found


def _create(page: Signed, name: str, *source_ids: str) -> str:
    form = {"name": name, "unplanned_events": "flag", "invalid_properties": "block"}
    created = page.post("/plans/new", {**form, "source_id": list(source_ids)})
    assert created.status_code == 200, alerts(created)
    return created.url.path.rsplit("/", 1)[1]


def test_create_and_edit_a_plan_s_rules(app: App) -> None:
    page = Signed(app.client)
    assert "No tracking plans yet" in page.get("/plans").text
    nameless = page.post("/plans/new", {"name": "", "unplanned_events": "flag"})
    assert nameless.status_code == 422 and "Give the plan a name." in alerts(nameless)
    bad_policy = page.post("/plans/new", {"name": "x", "unplanned_events": "maybe"})
    assert bad_policy.status_code == 422 and "must be one of allow, flag, block" in text(
        bad_policy.text
    )
    plan_id = _create(page, "Checkout")
    assert "Checkout" in page.get("/plans").text

    added = page.post(f"/plans/{plan_id}/events", {"name": "Order Completed", "call": "track"})
    assert "Added event 'Order Completed'" in " ".join(notices(added))
    for name, kind in (("total", "number"), ("order_id", "string")):
        page.post(
            f"/plans/{plan_id}/properties",
            {"event": "Order Completed", "name": name, "type": kind, "required": "true"},
        )
    # Change a rule: total becomes an optional integer.
    page.post(
        f"/plans/{plan_id}/properties",
        {"event": "Order Completed", "name": "total", "type": "integer"},
    )
    (event,) = _plan(app, plan_id)["events"]  # type: ignore[misc]
    assert event["properties"] == [
        {"name": "total", "type": "integer", "required": False, "description": ""},
        {"name": "order_id", "type": "string", "required": True, "description": ""},
    ]
    assert event["json_schema"]["properties"]["properties"]["required"] == ["order_id"]
    removed = page.post(
        f"/plans/{plan_id}/properties/remove", {"event": "Order Completed", "name": "order_id"}
    )
    assert "Removed property 'order_id'" in " ".join(notices(removed))
    page.post(f"/plans/{plan_id}/events", {"name": "Home", "call": "page"})
    gone = page.post(f"/plans/{plan_id}/events/remove", {"event": "Home"})
    assert "it now counts as unplanned" in " ".join(notices(gone))
    final = _plan(app, plan_id)
    assert [e["name"] for e in final["events"]] == ["Order Completed"]  # type: ignore[attr-defined]
    assert final["version"] == 8 and final["invalid_properties"] == "block"

    settings = page.post(
        f"/plans/{plan_id}/settings",
        {
            "name": "Checkout v2",
            "description": "What checkout sends",
            "unplanned_events": "allow",
            "invalid_properties": "flag",
        },
    )
    assert "Plan settings saved." in notices(settings)
    assert _plan(app, plan_id)["name"] == "Checkout v2"


def test_refused_changes_say_why_and_keep_what_was_typed(app: App) -> None:
    page = Signed(app.client)
    plan_id = _create(page, "Refusals")
    _create(page, "Taken name")
    policies = {"unplanned_events": "flag", "invalid_properties": "flag"}
    page.post(f"/plans/{plan_id}/events", {"name": "Signed Up", "call": "track"})
    page.post(f"/plans/{plan_id}/events", {"name": "Home", "call": "page"})
    page.post(
        f"/plans/{plan_id}/properties",
        {"event": "Signed Up", "name": "plan", "type": "string", "new": "true"},
    )
    for path, form, words in (
        ("/events", {"name": "", "call": "track"}, "Give the event a name"),
        ("/events", {"name": "Signed Up", "call": "track"}, "already has an event 'Signed Up'"),
        ("/events", {"name": "Landing", "call": "page"}, "checks every page call against one"),
        ("/events", {"name": "X", "call": "fax"}, "call"),
        ("/properties", {"event": "Signed Up", "name": ""}, "Give the property a name"),
        ("/properties", {"event": "Signed Up", "name": "a", "type": "blob"}, "Choose a type"),
        ("/properties", {"event": "Nope", "name": "a"}, "has no event 'Nope'"),
        # The "New property" form never replaces an existing rule (its row's Save does).
        (
            "/properties",
            {"event": "Signed Up", "name": "plan", "type": "number", "new": "true"},
            "already has a property 'plan'",
        ),
        ("/properties/remove", {"event": "Signed Up", "name": "zz"}, "has no property 'zz'"),
        ("/events/remove", {"event": "Nope"}, "has no event 'Nope'"),
        ("/settings", {"name": "", **policies}, "Give the plan a name"),
        ("/settings", {"name": "Taken name", **policies}, "already has this name"),
        ("/settings", {"name": "Refusals"}, "must be one of allow, flag, block"),
        ("/sources", {"source_id": "src_missing"}, "does not exist in this workspace"),
    ):
        answer = page.post(f"/plans/{plan_id}{path}", form)
        assert answer.status_code == 422, (path, form)
        assert words in " ".join(alerts(answer)), (words, alerts(answer))
    (signed_up,) = [e for e in _plan(app, plan_id)["events"] if e["name"] == "Signed Up"]  # type: ignore[attr-defined]
    assert signed_up["properties"][0]["type"] == "string"  # the refused add changed nothing
    kept = page.post(f"/plans/{plan_id}/events", {"name": "Landing", "call": "page"})
    assert 'value="Landing"' in kept.text
    assert page.get("/plans/tp_missing").status_code == 404
    assert page.post("/plans/tp_missing/events", {"name": "x"}).status_code == 404


def test_sources_violations_and_members(app: App) -> None:
    page = Signed(app.client)
    source = app.source("checked web")
    plan_id = _create(page, "Checked")
    page.post(f"/plans/{plan_id}/events", {"name": "Order Completed"})
    page.post(
        f"/plans/{plan_id}/properties",
        {"event": "Order Completed", "name": "total", "type": "number", "required": "true"},
    )
    attached = page.post(f"/plans/{plan_id}/sources", {"source_id": source["id"]})
    assert "Sources saved." in notices(attached)
    assert "No violations" in attached.text
    other = _create(page, "Other")
    taken = page.post(f"/plans/{other}/sources", {"source_id": source["id"]})
    assert "already follows tracking plan" in " ".join(alerts(taken))

    bad = {"type": "track", "userId": "u", "event": "Order Completed", "properties": {"total": "x"}}
    answer = app.client.post("/v1/batch", json={"batch": [bad]}, headers=basic(source["write_key"]))
    assert answer.status_code == 200
    shown = wait_until(
        lambda: "should be a number" in (p := page.get(f"/plans/{plan_id}")).text and p
    )
    assert "checked web" in shown.text and "Recent violations (1)" in text(shown.text)

    member = app.client.post(
        "/api/v1/members",
        json={"email": "mo@example.com", "name": "Mo", "role": "member"},
        headers=app.auth,
    ).json()
    visitor = Signed(TestClient(app.client.app), member["token"])
    read = visitor.get(f"/plans/{plan_id}")
    assert read.status_code == 200 and "only a workspace owner can change it" in read.text
    assert "disabled>Add event" in read.text
    refused = visitor.post(f"/plans/{plan_id}/events", {"name": "Sneaky"})
    assert refused.status_code == 403 and "Only an owner can change tracking plans" in refused.text
    assert visitor.post("/plans/new", {"name": "Mine"}).status_code == 403
    assert [e["name"] for e in _plan(app, plan_id)["events"]] == ["Order Completed"]  # type: ignore[attr-defined]
