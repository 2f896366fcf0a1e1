"""An audience's page in-process: refresh now, members page by page, versions and their
diffs, deletion refused while another audience includes it, members who may not see an
audience, and evaluations that fail."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.inprocess import App
from tests.web.ui.pages import Signed, alerts, notices, text, ui_app
from tests.web.ui.test_audience_pages import (
    BULK,
    DEFINITION,
    MINUS,
    as_text,
    fragment,
    save,
    saved_id,
    send_people,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ui_app(tmp_path_factory.mktemp("audience-pages")) as running:
        yield running


@pytest.fixture(scope="module")
def people(app: App) -> None:
    send_people(app)


def test_save_refresh_and_the_audience_page(app: App, people: None) -> None:
    page = Signed(app.client)
    detail = save(page, "Loyal pros", DEFINITION, description="Two orders or more")
    audience_id = saved_id(detail)
    assert DEFINITION in text(detail.text) and "Two orders or more" in detail.text
    listed = text(page.get("/audiences").text)
    assert "Loyal pros loyal_pros · v1 users Real time" in listed

    refreshed = page.client.post(
        f"/audiences/{audience_id}/refresh",
        headers={"HX-Request": "true", "X-CSRF-Token": page.csrf},
    )
    assert refreshed.status_code == 200 and 'id="result"' in refreshed.text
    assert re.search(rf"\+[01] entered, {MINUS}0 exited; 1 member\.", text(refreshed.text))
    assert fragment(refreshed, "audience-size") == "1"
    assert "user_id:jane" in refreshed.text and "/profiles/use_" in refreshed.text
    assert "Members of Loyal pros" in refreshed.text and 'class="size-line"' in refreshed.text
    plain = page.post(f"/audiences/{audience_id}/refresh")
    assert f"Refreshed: +0 entered, {MINUS}0 exited." in notices(plain)

    # A changed definition is version 2, with its diff; an unchanged one stays.
    edit = page.get(f"/audiences/{audience_id}/edit")
    assert 'value="Loyal pros"' in edit.text and "makes version 2" in edit.text
    changed = DEFINITION.replace(">= 2", ">= 1")
    v2 = as_text(page, f"/audiences/{audience_id}/edit", changed, action="save",
                  name="Loyal pros", refresh="scheduled", hours="2")  # fmt: skip
    assert "Saved version 2 of 'Loyal pros'" in " ".join(notices(v2))
    diff = [
        html.unescape(line)
        for line in re.findall(r'<span class="diff-(?:add|remove)">(.*?)</span>', v2.text)
    ]
    # The saved text is canonical: "count() >= 1" is printed as "performed".
    assert diff == [f"-{DEFINITION}", "+event('Order Completed') and trait('plan') = 'pro'"]
    assert "Every 2 h" in text(v2.text)
    same = as_text(page, f"/audiences/{audience_id}/edit", changed, action="save",
                    name="Loyal pros", refresh="scheduled", hours="2")  # fmt: skip
    assert "Saved 'Loyal pros'." in notices(same) and "version 2" in same.text


def test_members_page_by_page(app: App, people: None) -> None:
    page = Signed(app.client)
    audience_id = saved_id(save(page, "Bulk", "trait('plan') = 'bulk'"))
    page.post(f"/audiences/{audience_id}/refresh")
    first = page.get(f"/audiences/{audience_id}")
    assert first.text.count('class="mono" href="/profiles/use_') == 25
    more = re.search(r'href="(/audiences/aud_\w+\?after=\d+)#members-h">More members', first.text)
    assert more is not None
    rest = page.get(more.group(1))
    assert rest.text.count('class="mono" href="/profiles/use_') == BULK - 25
    assert "First members" in rest.text and "More members" not in rest.text
    for cursor in ("yesterday", "9" * 20, "9" * 5000, "-5"):
        garbled = page.get(f"/audiences/{audience_id}?after={cursor}")
        assert garbled.status_code == 200
        assert "showing the first page" in " ".join(alerts(garbled)), cursor


def test_delete_is_refused_while_another_audience_includes_it(app: App, people: None) -> None:
    page = Signed(app.client)
    base = saved_id(save(page, "Base", "trait('plan') = 'free'"))
    outer = saved_id(save(page, "Outer", "audience('base') and consent('marketing')"))
    assert "Included by outer" in page.get(f"/audiences/{base}").text
    refused = page.post(f"/audiences/{base}/delete")
    assert refused.status_code == 409
    assert "audiences outer include this one; change them first" in fragment(
        refused, "delete-error"
    )
    gone = page.post(f"/audiences/{outer}/delete")
    assert gone.url.path == "/audiences" and "Deleted audience 'Outer'." in notices(gone)
    assert page.post(f"/audiences/{base}/delete").url.path == "/audiences"
    assert page.get(f"/audiences/{base}").status_code == 404


def test_audiences_hidden_from_a_member_do_not_exist_for_them(app: App, people: None) -> None:
    owner = Signed(app.client)
    member = app.client.post(
        "/api/v1/members", json={"email": "lu@example.com", "name": "Lu"}, headers=app.auth
    ).json()
    new = owner.get("/audiences/new")
    assert f'name="hidden_from" value="{member["id"]}"' in new.text and "lu@example.com" in new.text
    secret = saved_id(save(owner, "Secret", "tag('vip')", hidden_from=member["id"]))
    assert "hidden from Lu" in text(owner.get(f"/audiences/{secret}").text)
    visitor = Signed(TestClient(app.client.app), member["token"])
    assert "Secret" not in visitor.get("/audiences").text
    for path in (f"/audiences/{secret}", f"/audiences/{secret}/edit"):
        assert visitor.get(path).status_code == 404
    assert visitor.post(f"/audiences/{secret}/refresh").status_code == 404
    peek = visitor.post("/audiences/preview", {"audience_id": secret, "mode": "text",
                                               "text": "tag('vip')"})  # fmt: skip
    assert "Audience was not found" in fragment(peek, "preview-error")


def test_a_failing_evaluation_is_shown_never_a_server_error(app: App, people: None) -> None:
    # Python's re accepts \Z (end of text), DuckDB's RE2 refuses it when the query runs;
    # backreferences and lookaround are refused at save time, other RE2 gaps show this way.
    page = Signed(app.client)
    definition = r"trait('plan') matches 'a\\Z'"
    counted = as_text(page, "/audiences/preview", definition)
    assert counted.status_code == 200
    assert "This could not be computed: Invalid Input Error" in fragment(counted, "preview-error")
    audience_id = saved_id(save(page, "Backref", definition))
    refreshed = page.client.post(
        f"/audiences/{audience_id}/refresh",
        headers={"HX-Request": "true", "X-CSRF-Token": page.csrf},
    )
    assert refreshed.status_code == 200
    assert "The refresh failed: Invalid Input Error" in fragment(refreshed, "refresh-outcome")
    listed = text(page.get("/audiences").text)
    assert "Backref backref · v1 users Real time Error" in listed
    assert "invalid escape sequence" in listed
    plain = page.post(f"/audiences/{audience_id}/refresh")
    assert plain.status_code == 200 and "The refresh failed" in " ".join(alerts(plain))
