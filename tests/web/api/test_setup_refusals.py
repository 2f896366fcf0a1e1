"""What the guided setup refuses: non-owners, bad input, changing a locked use case."""

from __future__ import annotations

from typing import Any

from tests.inprocess import App


def call(app: App, method: str, path: str, status: int, token: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else app.auth
    response = app.client.request(method, "/api/v1" + path, headers=headers, **kw)
    assert response.status_code == status, response.text
    return response.json()


def test_members_can_look_but_not_start_or_advance(app: App) -> None:
    member = call(app, "POST", "/members", 201, json={"email": "dev@example.com", "name": "Dev"})
    assert member["role"] == "member" and member["token"]
    token = member["token"]
    state = call(app, "GET", "/setup", 200, token)
    assert state["can_edit"] is False and state["status"] == "not_started"
    for path, body in (
        ("/setup/goal", {"goal_id": "optimize-advertising"}),
        ("/setup/restart", None),
        ("/setup/review-events", None),
        ("/setup/dev-destinations", {"type": "webhook", "name": "h", "settings": {}}),
        ("/setup/publish", {"destination_ids": []}),
        ("/setup/unify/default-identifiers", None),
        ("/setup/engage", {"name": "Buyers", "definition": "event('Order Completed')"}),
        ("/setup/republish", None),
    ):
        refused = call(app, "POST", path, 403, token, json=body)
        assert refused["code"] == "forbidden"
        assert "owner" in refused["message"]
    assert call(app, "GET", "/setup", 200)["status"] == "not_started"
    assert call(app, "POST", "/members", 403, token, json={"email": "x@example.com"})["code"] == (
        "forbidden"
    )
    listed = call(app, "GET", "/members", 200, token)["members"]
    assert {m["role"] for m in listed} == {"owner", "member"}
    again = call(app, "POST", "/members", 409, json={"email": "dev@example.com"})
    assert "already" in again["message"]


def test_bad_input_is_a_clear_4xx(app: App) -> None:
    assert call(app, "POST", "/setup/goal", 422, json={})["code"] == "invalid_request"
    unknown = call(app, "POST", "/setup/goal", 404, json={"goal_id": "get-rich"})
    assert unknown["code"] == "not_found" and "optimize-advertising" in unknown["message"]
    extra = {"goal_id": "optimize-advertising", "colour": "blue"}
    assert call(app, "POST", "/setup/goal", 422, json=extra)["code"] == "invalid_request"
    early = call(app, "POST", "/setup/use-case", 409, json={"use_case_id": "accelerate-signup"})
    assert early["code"] == "step_not_ready"


def test_use_case_changes_until_review_then_is_locked(app: App) -> None:
    call(app, "POST", "/setup/goal", 200, json={"goal_id": "optimize-advertising"})
    call(app, "POST", "/setup/use-case", 200, json={"use_case_id": "suppress-with-purchase"})
    state = call(app, "POST", "/setup/restart", 200)
    assert state["status"] == "not_started", "Change use case begins the flow again"
    call(app, "POST", "/setup/goal", 200, json={"goal_id": "optimize-advertising"})
    call(app, "POST", "/setup/use-case", 200, json={"use_case_id": "suppress-with-purchase"})
    state = call(
        app, "POST", "/setup/use-case", 200, json={"use_case_id": "mitigate-cart-abandonment"}
    )
    assert state["use_case"]["id"] == "mitigate-cart-abandonment"
    call(app, "POST", "/setup/environments/acknowledge", 200)
    state = call(app, "POST", "/setup/review-events", 200)
    assert state["use_case_locked"] is True
    assert {s["id"]: s.get("locked") for s in state["steps"]}["use_case"] is True
    for method, path, body in (
        ("POST", "/setup/use-case", {"use_case_id": "suppress-with-purchase"}),
        ("POST", "/setup/goal", {"goal_id": "personalize-first-conversion"}),
        ("POST", "/setup/restart", None),
    ):
        refused = call(app, method, path, 409, json=body)
        assert refused["code"] == "use_case_locked"
        assert "reviewed" in refused["message"]
    reverse = call(
        app, "POST", "/setup/dev-sources", 422, json={"type": "Reverse ETL", "name": "wh"}
    )
    assert "Reverse ETL" in reverse["message"]
    vague = call(app, "POST", "/setup/dev-sources", 422, json={"type": "Website"})
    assert "source_id" in vague["message"]


def _locked(app: App) -> dict[str, Any]:
    """The setup with its events reviewed (walked there if an earlier test did not)."""
    state = call(app, "GET", "/setup", 200)
    if not state["use_case_locked"]:
        call(app, "POST", "/setup/goal", 200, json={"goal_id": "optimize-advertising"})
        body = {"use_case_id": "mitigate-cart-abandonment"}
        call(app, "POST", "/setup/use-case", 200, json=body)
        call(app, "POST", "/setup/environments/acknowledge", 200)
        state = call(app, "POST", "/setup/review-events", 200)
    return state


def test_bad_destinations_are_refused_with_the_reason(app: App) -> None:
    _locked(app)
    hook = {"type": "webhook", "name": "hook", "settings": {"url": "https://hooks.example.com"}}
    early = call(app, "POST", "/setup/dev-destinations", 409, json=hook)
    assert early["code"] == "step_not_ready" and "dev source" in early["message"]
    call(app, "POST", "/setup/dev-sources", 200, json={"type": "server", "name": "api"})

    loopback = {**hook, "settings": {"url": "http://127.0.0.1:9/hook"}}
    unsafe = call(app, "POST", "/setup/dev-destinations", 422, json=loopback)
    assert "SHOAL_DESTINATIONS_ALLOWED_NETWORKS" in unsafe["message"]
    reverse = call(
        app, "POST", "/setup/dev-destinations", 422, json={**hook, "type": "Reverse ETL"}
    )
    assert "no Reverse ETL" in reverse["message"]
    unknown = call(app, "POST", "/setup/dev-destinations", 422, json={**hook, "type": "fax"})
    assert "webhook" in unknown["message"], "lists the types there are"
    invalid = call(app, "POST", "/setup/dev-destinations", 422, json={**hook, "settings": {}})
    assert invalid["code"] == "invalid_request" and "url" in invalid["message"]
    extra = call(app, "POST", "/setup/dev-destinations", 422, json={**hook, "colour": "blue"})
    assert extra["code"] == "invalid_request"
    both = call(app, "POST", "/setup/dev-destinations", 422, json={**hook, "destination_id": "d"})
    assert "either" in both["message"]
    missing = call(app, "POST", "/setup/dev-destinations", 404, json={"destination_id": "dst_x"})
    assert missing["code"] == "not_found"
    elsewhere = {**hook, "source_ids": ["src_nope"]}
    assert (
        "src_nope" in call(app, "POST", "/setup/dev-destinations", 422, json=elsewhere)["message"]
    )
    state = call(app, "POST", "/setup/dev-destinations", 200, json=hook)
    (created,) = next(s for s in state["steps"] if s["id"] == "dev_destinations")["destinations"]
    dup = call(app, "POST", "/setup/dev-destinations", 409, json=hook)
    assert dup["code"] == "conflict" and "hook" in dup["message"]
    unknown_publish = call(app, "POST", "/setup/publish", 422, json={"destination_ids": ["dst_x"]})
    assert "dst_x" in unknown_publish["message"]
    state = call(app, "POST", "/setup/publish", 200, json={"destination_ids": []})
    publish = next(s for s in state["steps"] if s["id"] == "publish")
    assert publish["prod_destinations"] == [] and publish["unpublished_destinations"] == [
        created["id"]
    ], "an empty list copies no destination"


def test_unify_and_republish_wait_for_a_verified_prod_setup(app: App) -> None:
    state = _locked(app)
    steps = {s["id"]: s for s in state["steps"]}
    assert steps["unify_identifiers"]["status"] == "blocked"
    assert steps["unify_identifiers"]["available"] is True
    for path in ("/setup/unify/default-identifiers", "/setup/republish"):
        early = call(app, "POST", path, 409)
        assert early["code"] == "step_not_ready" and "mark it complete" in early["message"]
    prod = call(app, "GET", "/spaces/prod/identity", 200)
    assert prod["saved"] is False, "nothing was imported"
    assert call(app, "GET", "/spaces/dev/identity", 200)["saved"] is False
