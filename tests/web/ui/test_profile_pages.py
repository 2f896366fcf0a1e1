"""The profiles explorer in-process: search, the profile's sections, merges, paging, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.inprocess import App, basic
from tests.web.ui.pages import Signed, alerts, notices, text, ui_app, wait_until

BASE = "/api/v1/spaces/dev/collections/users/profiles"
ORDERS = 30


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ui_app(tmp_path_factory.mktemp("profiles")) as running:
        yield running


@pytest.fixture(scope="module")
def people(app: App) -> dict[str, Any]:
    """An anonymous visitor who signs up (two profiles merged), joins an account, buys."""
    source = app.source("profiles web")
    batch: list[dict[str, Any]] = [
        {"type": "page", "anonymousId": "anon-7", "name": "Pricing"},
        {"type": "identify", "userId": "jane", "traits": {"email": "jane@example.com"}},
        {"type": "identify", "userId": "jane", "anonymousId": "anon-7", "traits": {"plan": "pro"}},
        {"type": "group", "userId": "jane", "groupId": "acme", "traits": {"name": "Acme"}},
    ]
    batch += [
        {"type": "track", "userId": "jane", "event": "Order Completed", "properties": {"n": i}}
        for i in range(ORDERS)
    ]
    answer = app.client.post("/v1/batch", json={"batch": batch}, headers=basic(source["write_key"]))
    assert answer.status_code == 200
    merges = wait_until(
        lambda: app.client.get(f"{BASE}/user_id:jane/merges", headers=app.auth).json().get("data")
    )
    wait_until(
        lambda: (
            len(
                app.client.get(f"{BASE}/user_id:jane/events?limit=100", headers=app.auth).json()[
                    "data"
                ]
            )
            == len(batch)
        )
    )
    return {"source": source, "merged_away": merges[0]["from"], "kept": merges[0]["into"]}


def test_finding_a_profile_shows_every_section(app: App, people: dict[str, Any]) -> None:
    page = Signed(app.client)
    found = page.get("/profiles?q=email:jane@example.com")
    assert found.status_code == 200 and found.url.path == f"/profiles/{people['kept']}"
    shown = text(found.text)
    for expected in (
        "email jane@example.com",
        "plan pro",
        "user_id jane",
        "anonymous_id anon-7",
        f"{people['merged_away']} merged into {people['kept']}",
        "group_id:acme",
        "This profile is in no audience of the dev space",
        "profiles web",
    ):
        assert expected in shown, expected
    # The timeline pages 25 events at a time, newest first, and continues where it ended.
    assert found.text.count('<li class="event">') == 25
    older = re.search(r'href="(/profiles/[^"]+\?before=[^"#]+)', found.text)
    assert older is not None
    rest = page.get(older.group(1))
    assert rest.text.count('<li class="event">') == ORDERS + 4 - 25
    assert "Pricing" in rest.text and "Newest events" in rest.text
    assert "Older events" not in rest.text


def test_the_other_searches_lead_to_the_same_profile(app: App, people: dict[str, Any]) -> None:
    page = Signed(app.client)
    for query in ("user_id:jane", "anonymous_id:anon-7", people["kept"], " USER_ID:jane "):
        assert page.get(f"/profiles?q={query}").url.path == f"/profiles/{people['kept']}"
    # A profile merged into another one leads to the one it became.
    merged = page.get(f"/profiles/{people['merged_away']}")
    assert merged.url.path == f"/profiles/{people['kept']}"
    assert f"Profile {people['merged_away']} was merged into {people['kept']}" in " ".join(
        notices(merged)
    )


def test_accounts_and_the_users_list(app: App, people: dict[str, Any]) -> None:
    page = Signed(app.client)
    users = page.get("/profiles")
    assert people["kept"] in users.text and "user_id:jane" in text(users.text)
    assert people["merged_away"] not in users.text  # only canonical profiles are listed
    accounts = page.get("/profiles?collection=accounts")
    account_id = re.search(r'href="/profiles/(acc_\w+)"', accounts.text)
    assert account_id is not None and "group_id:acme" in text(accounts.text)
    account = page.get("/profiles?q=group_id:acme")
    assert account.url.path == f"/profiles/{account_id.group(1)}"
    assert "name Acme" in text(account.text) and people["kept"] in account.text


def test_bad_and_unknown_searches_say_why(app: App, people: dict[str, Any]) -> None:
    page = Signed(app.client)
    for query, status, words in (
        ("jane@example.com", 422, "Write the identifier as type:value"),
        ("email:", 422, "Write the identifier as type:value"),
        ("use_!!", 422, "is not a profile id"),
        ("user id:jane", 422, "types have no spaces"),
        ("email:nobody@example.com", 404, "No profile in the dev space has the identifier"),
    ):
        answer = page.get("/profiles", params={"q": query})
        assert answer.status_code == status, query
        assert words in " ".join(alerts(answer)), (query, alerts(answer))
    missing = page.get("/profiles/use_00000000001")
    assert missing.status_code == 404 and "has no profile use_00000000001" in missing.text
    assert page.get("/profiles/not-an-id").status_code == 404
    for cursor in ("yesterday", "99999999999999999999.1", "5.-1"):
        garbled = page.get(f"/profiles/{people['kept']}?before={cursor}")
        assert garbled.status_code == 200
        assert "showing the newest events" in " ".join(alerts(garbled)), cursor
    for offset in ("x", "99999999999999999999", "-5"):
        assert page.get(f"/profiles?collection=bogus&offset={offset}").status_code == 200


def test_profiles_belong_to_the_environment_shown(app: App, people: dict[str, Any]) -> None:
    page = Signed(app.client)
    prod = page.get("/profiles?env=prod")
    assert "No profiles in prod yet" in prod.text
    assert page.get("/profiles?q=user_id:jane&env=prod").status_code == 404
    other_space = page.get(f"/profiles/{people['kept']}?env=prod")
    assert other_space.status_code == 404 and "try the other environment" in other_space.text
    page.get("/profiles?env=dev")
