"""Audiences end to end on a real ``shoal serve``: events sent with the official Segment
Python SDK, the reference segment of seed 004, a cart-abandonment sequence, an account
audience, a product segment, real-time membership, and the changes flowing back into the
pipeline as events and traits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from segment.analytics import Client  # type: ignore[import-untyped]

from tests.server import ShoalServer

REFERENCE = (
    "event('Order Completed').count() > 1 and page().within(40 days).count() = 0 "
    "and event('Order Completed').sum('revenue') > 800 and consent('marketing')"
)


def _ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def _wait(shoal: ShoalServer, path: str, ok: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        response = shoal.api("GET", path)
        body = response.json()
        if response.status_code == 200 and ok(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{path} never satisfied the check; last answer {body}")


def _create(shoal: ShoalServer, **body: Any) -> dict[str, Any]:
    response = shoal.api("POST", "/audiences", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _ready(shoal: ShoalServer, audience: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = _wait(
        shoal, f"/audiences/{audience['id']}", lambda b: b["status"] == "ready"
    )
    return found


def _members(shoal: ShoalServer, audience: dict[str, Any]) -> set[str]:
    page = shoal.api("GET", f"/audiences/{audience['id']}/members").json()
    out = set()
    for member in page["members"]:
        ids = member.get("identifiers") or {}
        out.add(ids.get("user_id") or ids.get("group_id") or member["id"])
    return out


_SENT: dict[str, dict[str, Any]] = {}


def _send(shoal: ShoalServer) -> dict[str, Any]:
    """Send the module's events once per server."""
    if shoal.url not in _SENT:
        _SENT[shoal.url] = _send_once(shoal)
    return _SENT[shoal.url]


def _send_once(shoal: ShoalServer) -> dict[str, Any]:
    source = shoal.create_source("audience sdk", type="server")
    sdk = Client(write_key=source["write_key"], host=shoal.url, sync_mode=True, max_retries=1)
    # Jane: two orders worth 900, last visit 45 days ago, consent given: in the reference.
    sdk.identify("jane", {"email": "jane@example.com"}, timestamp=_ago(days=70))
    sdk.track("jane", "Order Completed", {"revenue": 500}, timestamp=_ago(days=60))
    sdk.track(
        "jane", "Order Completed", {"revenue": 400}, timestamp=_ago(days=50),
        context={"consent": {"categoryPreferences": {"marketing": True}}},
    )  # fmt: skip
    sdk.page("jane", name="Pricing", timestamp=_ago(days=45))
    # Bob: enough revenue, but one order and a visit today.
    sdk.identify("bob", {"email": "bob@example.com", "consent": {"marketing": True}})
    sdk.track("bob", "Order Completed", {"revenue": 950}, timestamp=_ago(days=3))
    sdk.page("bob", name="Home")
    # Carl abandoned his cart two hours ago; Dana bought within the hour.
    sdk.track("carl", "Product Added", {"product_id": "p1"}, timestamp=_ago(hours=2))
    sdk.track("dana", "Product Added", {"product_id": "p2"}, timestamp=_ago(hours=2))
    sdk.track("dana", "Order Completed", {"revenue": 20}, timestamp=_ago(hours=1, minutes=50))
    # Jane's company is an enterprise account; Bob's is not.
    sdk.group("jane", "acme", {"name": "Acme", "plan": "enterprise"})
    sdk.group("bob", "tiny", {"name": "Tiny", "plan": "free"})
    # Product p1 is viewed three times, p2 once.
    for _ in range(3):
        sdk.track("bob", "Product Viewed", {"product_id": "p1"})
    sdk.track("bob", "Product Viewed", {"product_id": "p2"})
    sdk.flush()
    shoal.wait_for_events(source["id"], 16)
    return {"source": source, "sdk": sdk}


def test_audiences_end_to_end(shoal: ShoalServer) -> None:
    sent = _send(shoal)
    reference = _create(shoal, name="High value lapsed", definition=REFERENCE)
    assert reference["key"] == "high_value_lapsed"
    assert reference["text"] == REFERENCE
    cart = _create(
        shoal,
        name="Cart abandoners",
        definition="event('Product Added') then not event('Order Completed') within 1 hour",
    )
    enterprise = _create(
        shoal, name="Enterprise accounts", collection="accounts",
        definition="trait('plan') = 'enterprise'",
    )  # fmt: skip
    at_enterprise = _create(
        shoal,
        name="People at enterprise accounts",
        definition={"kind": "account", "where": {"kind": "trait", "name": "plan", "op": "eq",
                                                  "value": "enterprise"}},
    )  # fmt: skip
    response = shoal.api(
        "POST", "/spaces/dev/collections", json={"name": "products", "id_property": "product_id"}
    )
    assert response.status_code == 201, response.text
    response = shoal.api(
        "POST",
        "/spaces/dev/collections/products/objects",
        json={"objects": [{"id": "p1", "attributes": {"category": "shoes"}},
                          {"id": "p2", "attributes": {"category": "shoes"}}]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    popular = _create(
        shoal, name="Popular shoes", collection="products", refresh="scheduled",
        definition="trait('category') = 'shoes' and event('Product Viewed').count() >= 3",
    )  # fmt: skip

    assert _ready(shoal, reference)["size"] == 1
    assert _members(shoal, reference) == {"jane"}
    _ready(shoal, cart)
    assert _members(shoal, cart) == {"carl"}
    _ready(shoal, enterprise)
    assert _members(shoal, enterprise) == {"acme"}
    _ready(shoal, at_enterprise)
    assert _members(shoal, at_enterprise) == {"jane"}
    _ready(shoal, popular)
    assert _members(shoal, popular) == {"p1"}

    # The changes reach the pipeline: track calls from the Audiences source, and the trait.
    sources = shoal.api("GET", "/sources").json()["sources"]
    audiences_source = next(
        s for s in sources if s["type"] == "audiences" and s["environment"] == "dev"
    )
    entered = shoal.wait_for_events(audiences_source["id"], 2, type="track")
    assert any(
        e["event"] == "Audience Entered" and e["userId"] == "jane"
        and e["properties"]["audience_key"] == "high_value_lapsed"
        for e in entered
    )  # fmt: skip
    _wait(
        shoal,
        "/spaces/dev/collections/users/profiles/user_id:jane/traits",
        lambda b: b["traits"].get("high_value_lapsed") is True,
    )

    # Real time: a second order moves Bob into a real-time audience without a refresh.
    buyers = _create(
        shoal, name="Repeat buyers", definition="event('Order Completed').count() >= 2"
    )
    _ready(shoal, buyers)
    assert _members(shoal, buyers) == {"jane"}
    sent["sdk"].track("bob", "Order Completed", {"revenue": 5})
    sent["sdk"].flush()
    _wait(
        shoal,
        f"/audiences/{buyers['id']}/members",
        lambda b: {m["identifiers"].get("user_id") for m in b["members"]} == {"jane", "bob"},
    )
    history = shoal.api("GET", f"/audiences/{buyers['id']}/history").json()
    assert [c["change"] for c in history["changes"] if c["profile"]].count("entered") == 2
    assert history["sizes"][-1]["size"] == 2

    # Explain says which condition keeps Bob out of the reference segment.
    explained = shoal.api(
        "POST", f"/audiences/{reference['id']}/explain", json={"profile": "user_id:bob"}
    ).json()
    assert explained["member"] is False
    by_text = {c["condition"]: c for c in explained["conditions"]}
    assert by_text["page().within(40 days).count() = 0"]["result"] is False
    assert by_text["page().within(40 days).count() = 0"]["value"] == 1
    assert by_text["event('Order Completed').sum('revenue') > 800"]["result"] is True


def test_cli_preview_explain_refresh_and_versions(shoal: ShoalServer) -> None:
    from tests.cli.test_use_case_commands import as_json, cli

    _send(shoal)
    created = as_json(cli(
        shoal, "audience", "create", "Big spenders",
        "event('Order Completed').sum('revenue') >= 900", "--every", "3600", "--json",
    ))  # fmt: skip
    assert created["refresh"] == "scheduled" and created["interval_s"] == 3600
    preview = as_json(cli(
        shoal, "audience", "preview", "event('Order Completed').sum('revenue') >= 900", "--json"
    ))  # fmt: skip
    assert preview["count"] == 2
    assert {m["identifiers"]["user_id"] for m in preview["sample"]} == {"jane", "bob"}
    refreshed = as_json(cli(shoal, "audience", "refresh", "big_spenders", "--json"))
    assert refreshed["size"] == 2 and refreshed["audience"]["status"] == "ready"
    members = as_json(cli(shoal, "audience", "members", "big_spenders", "--json"))
    assert {m["identifiers"]["user_id"] for m in members["members"]} == {"jane", "bob"}
    # The human-readable forms agree in number with what they count.
    assert (
        "2 users match"
        in cli(
            shoal, "audience", "preview", "event('Order Completed').sum('revenue') >= 900"
        ).stdout
    )
    assert (
        "1 user matches"
        in cli(
            shoal, "audience", "preview", "event('Order Completed').sum('revenue') >= 920"
        ).stdout
    )
    assert "2 members, computed" in cli(shoal, "audience", "members", "big_spenders").stdout
    explained = cli(shoal, "audience", "explain", "big_spenders", "user_id:jane").stdout
    assert "is a member" in explained and "900" in explained

    # A new definition is a new version, with the difference shown.
    response = shoal.api(
        "PATCH", "/audiences/big_spenders",
        json={"definition": "event('Order Completed').sum('revenue') >= 920"},
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["version"] == 2
    versions = shoal.api("GET", "/audiences/big_spenders/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert "+event('Order Completed').sum('revenue') >= 920" in versions[1]["diff"]
    assert as_json(cli(shoal, "audience", "refresh", "big_spenders", "--json"))["size"] == 1


def test_bad_definitions_get_clear_errors(shoal: ShoalServer) -> None:
    cases = [
        ({"name": "x", "definition": "event('A').count( >= 2"}, "column"),
        ({"name": "x", "definition": {"kind": "trait", "name": "a", "op": "gt", "value": "x"}},
         "number"),
        ({"name": "x", "definition": "audience('missing')"}, "does not exist"),
        ({"name": "x", "definition": "trait('a') = 1", "collection": "planets"}, "collection"),
        ({"name": "x", "definition": "users(trait('a') = 1)"}, "accounts"),
        ({"name": "x", "definition": "trait('a') = 1", "refresh": "scheduled", "interval_s": 5},
         "at least"),
    ]  # fmt: skip
    for body, words in cases:
        response = shoal.api("POST", "/audiences", json=body)
        assert response.status_code in (400, 422), response.text
        assert words in response.json()["message"], response.text
    # Cycles are refused.
    _create(shoal, name="Cycle a", definition="trait('x') = 1")
    _create(shoal, name="Cycle b", definition="audience('cycle_a')")
    response = shoal.api("PATCH", "/audiences/cycle_a", json={"definition": "audience('cycle_b')"})
    assert response.status_code == 422 and "depend on itself" in response.json()["message"]
    # An audience others include cannot be deleted.
    assert shoal.api("DELETE", "/audiences/cycle_a").status_code == 409
    assert shoal.api("GET", "/audiences/nope").status_code == 404
    assert shoal.api("GET", "/audiences/cycle_a/members?next=abc").status_code == 400


def test_profile_api_lists_audiences_lists_and_tags(shoal: ShoalServer) -> None:
    _send(shoal)
    audience = _create(shoal, name="Jane only", definition="trait('email') = 'jane@example.com'")
    _ready(shoal, audience)
    base = "/spaces/dev/collections/users/profiles/user_id:jane"
    response = shoal.api(
        "POST", "/spaces/dev/tags/vip", json={"add": ["user_id:jane", "user_id:nobody"]}
    )
    assert response.json() == {
        "kind": "tag",
        "name": "vip",
        "size": 1,
        "not_found": ["user_id:nobody"],
    }
    shoal.api("POST", "/spaces/dev/lists/beta", json={"add": ["email:jane@example.com"]})
    found = _wait(
        shoal, f"{base}/audiences", lambda b: any(a["key"] == "jane_only" for a in b["data"])
    )
    assert {"kind": "tag", "name": "vip"} in found["lists"]
    assert {"kind": "list", "name": "beta"} in found["lists"]
    tagged = _create(shoal, name="VIP beta", definition="tag('vip') and list('beta')")
    assert _ready(shoal, tagged)["size"] == 1
    assert _members(shoal, tagged) == {"jane"}
