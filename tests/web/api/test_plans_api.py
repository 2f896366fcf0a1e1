"""Tracking plans over the Config API: block, flag, allow; edits take effect at once."""

from __future__ import annotations

from typing import Any

from tests.inprocess import App, basic

ORDER_EVENT = {
    "name": "Order Completed",
    "properties": [
        {"name": "order_id", "type": "string"},
        {"name": "revenue", "type": "number"},
        {"name": "coupon", "type": "string", "required": False},
    ],
}


def send(app: App, key: str, *messages: dict[str, Any]) -> None:
    batch = [{"type": "track", "userId": "u1", **m} for m in messages]
    response = app.client.post("/v1/batch", json={"batch": batch}, headers=basic(key))
    assert response.status_code == 200, response.text


def call(app: App, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    response = app.client.request(method, "/api/v1" + path, headers=app.auth, **kw)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def by_message_id(app: App, source_id: str, count: int) -> dict[str, dict[str, Any]]:
    return {e["messageId"]: e for e in app.events(source_id, count)}


def test_blocked_events_are_kept_and_visible_with_what_was_expected(app: App) -> None:
    src = app.source("checkout-web")
    body = {
        "name": "Checkout plan",
        "events": [ORDER_EVENT],
        "unplanned_events": "block",
        "invalid_properties": "block",
        "source_ids": [src["id"]],
    }
    plan = call(app, "POST", "/plans", 201, json=body)
    schema = plan["events"][0]["json_schema"]
    assert schema["$schema"].startswith("http://json-schema.org/draft-07")
    assert schema["properties"]["properties"]["required"] == ["order_id", "revenue"]

    good = {"order_id": "o1", "revenue": 10}
    send(
        app,
        src["write_key"],
        {"messageId": "good", "event": "Order Completed", "properties": good},
        {"messageId": "bad", "event": "Order Completed", "properties": {"order_id": 5}},
        {"messageId": "unplanned", "event": "Cart Shared", "properties": {}},
        {"messageId": "identify", "type": "identify", "traits": {"plan": "pro"}},
    )
    feed = by_message_id(app, src["id"], 4)
    assert feed["good"]["status"] == "accepted" and feed["good"]["violations"] == []
    assert feed["identify"]["status"] == "accepted"
    bad = feed["bad"]
    assert bad["status"] == "rejected"
    assert bad["reason"]["code"] == "plan_invalid_properties"
    assert "tracking plan" in bad["reason"]["message"]
    found = {(v["type"], v["property"], v["expected"]) for v in bad["violations"]}
    assert found == {
        ("invalid_type", "order_id", "string"),
        ("missing_property", "revenue", "number"),
    }
    assert feed["unplanned"]["reason"]["code"] == "plan_unplanned_event"
    rejected = app.client.get(
        f"/api/v1/sources/{src['id']}/events", params={"status": "rejected"}, headers=app.auth
    ).json()["events"]
    assert {e["messageId"] for e in rejected} == {"bad", "unplanned"}

    listed = call(app, "GET", f"/plans/{plan['id']}/violations")["events"]
    assert {e["event"] for e in listed} == {"Order Completed", "Cart Shared"}
    assert all(e["status"] == "rejected" and e["violations"] for e in listed)


def test_edits_take_effect_for_the_next_events(app: App) -> None:
    src = app.source("edits-web")
    plan = call(
        app,
        "POST",
        "/plans",
        201,
        json={"name": "Edits", "events": [ORDER_EVENT], "source_ids": [src["id"]]},
    )
    base = f"/plans/{plan['id']}"
    plan = call(
        app, "PUT", f"{base}/events/Order Completed/properties/revenue", json={"type": "string"}
    )
    assert plan["version"] == 2
    plan = call(app, "POST", f"{base}/events", json={"name": "Cart Shared", "properties": []})
    plan = call(app, "DELETE", f"{base}/events/Order Completed/properties/coupon")
    assert [p["name"] for p in plan["events"][0]["properties"]] == ["order_id", "revenue"]
    send(
        app,
        src["write_key"],
        {
            "messageId": "e1",
            "event": "Order Completed",
            "properties": {"order_id": "o", "revenue": "9"},
        },
        {"messageId": "e2", "event": "Cart Shared", "properties": {}},
    )
    feed = by_message_id(app, src["id"], 2)
    assert feed["e1"]["violations"] == [] and feed["e2"]["violations"] == []

    plan = call(app, "DELETE", f"{base}/events/Cart Shared")
    plan = call(app, "PATCH", base, json={"unplanned_events": "allow"})
    assert plan["unplanned_events"] == "allow" and plan["version"] == 6
    send(app, src["write_key"], {"messageId": "e3", "event": "Cart Shared", "properties": {}})
    assert by_message_id(app, src["id"], 3)["e3"]["violations"] == []

    replaced = call(app, "PUT", f"{base}/events", json={"events": []})
    assert replaced["events"] == []
    call(app, "DELETE", f"{base}/sources/{src['id']}")
    assert call(app, "GET", base)["source_ids"] == []
    call(app, "DELETE", base, 204)
    call(app, "GET", base, 404)


def test_bad_input_and_non_owners_get_clear_4xx(app: App) -> None:
    src = app.source("refusals-web")
    plan = call(app, "POST", "/plans", 201, json={"name": "Refusals", "source_ids": [src["id"]]})
    base = f"/plans/{plan['id']}"
    assert (
        call(app, "PATCH", base, 422, json={"invalid_properties": "drop"})["code"]
        == "invalid_request"
    )
    dupes = {"events": [ORDER_EVENT, ORDER_EVENT]}
    assert "twice" in call(app, "PUT", f"{base}/events", 422, json=dupes)["message"]
    other = call(app, "POST", "/plans", 201, json={"name": "Other"})
    conflict = call(
        app, "POST", f"/plans/{other['id']}/sources", 409, json={"source_ids": [src["id"]]}
    )
    assert "already follows" in conflict["message"]
    assert call(app, "POST", "/plans", 409, json={"name": "Refusals"})["code"] == "conflict"
    missing = call(app, "DELETE", f"{base}/events/Nope", 404)
    assert "has no event" in missing["message"]
    typed = {"type": "decimal"}
    call(app, "PUT", f"{base}/events/Nope/properties/x", 422, json=typed)

    member = call(app, "POST", "/members", 201, json={"email": "analyst@example.com"})
    headers = {"Authorization": f"Bearer {member['token']}"}
    response = app.client.get(f"/api/v1{base}", headers=headers)
    assert response.status_code == 200, "members can read plans"
    response = app.client.patch(f"/api/v1{base}", json={"name": "x"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and "owner" in response.json()["message"]


def test_snippets_for_a_plan_and_source(app: App) -> None:
    src = app.source("snippet-server")
    plan = call(app, "POST", "/plans", 201, json={"name": "Snippets", "events": [ORDER_EVENT]})
    out = call(app, "GET", f"/plans/{plan['id']}/snippets", params={"source_id": src["id"]})
    libraries = [s["library"] for s in out["events"][0]["snippets"]]
    assert libraries == ["analytics-python", "analytics-node", "curl"]
    assert all(src["write_key"] in s["code"] for s in out["events"][0]["snippets"])
