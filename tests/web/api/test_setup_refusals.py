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
        ("/setup/dev-destinations", None),
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
