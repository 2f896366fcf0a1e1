"""The welcome screen: Get started on a new workspace, and why not on one that is set up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.inprocess import App
from tests.web.ui.pages import Signed, text, ui_app, unbatched_webhook


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ui_app(tmp_path_factory.mktemp("welcome")) as running:
        yield running


def test_get_started_is_offered_only_where_guided_setup_would_accept(app: App) -> None:
    page = Signed(app.client)
    fresh = page.get("/welcome")
    assert fresh.status_code == 200 and 'href="/setup/goal">Get started' in fresh.text
    assert 'id="setup-refused"' not in fresh.text

    source = app.source("Shop")
    body = unbatched_webhook("Orders", "http://127.0.0.1:9/hook", source["id"])
    created = app.client.post("/api/v1/destinations", json=body, headers=app.auth)
    assert created.status_code == 201, created.text
    connected = page.get("/welcome")
    assert "Get started" not in connected.text
    refusal = "Guided setup is not available: this workspace already has 1 source and 1 "
    assert refusal + "destination connected" in text(connected.text)
    assert 'href="/sources">Go to sources' in connected.text
