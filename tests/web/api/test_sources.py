"""``/api/v1/sources``: the source lifecycle, auth, and clear errors."""

from __future__ import annotations

import json

from tests.inprocess import App, basic


def test_requests_without_a_valid_token_are_refused(app: App) -> None:
    missing = app.client.get("/api/v1/sources")
    assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = app.client.get("/api/v1/sources", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]
    basic_auth = app.client.get("/api/v1/sources", headers={"Authorization": "Basic eDp5"})
    assert basic_auth.status_code == 401


def test_create_returns_id_and_write_key(app: App) -> None:
    response = app.client.post(
        "/api/v1/sources",
        json={"name": "Website", "type": "website", "environment": "dev"},
        headers=app.auth,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("src_") and len(body["write_key"]) >= 24
    assert body["enabled"] is True and body["created_at"].endswith("Z")


def test_list_get_update_delete(app: App) -> None:
    created = app.source("Lifecycle", type="mobile", environment="prod")
    listed = app.client.get("/api/v1/sources", headers=app.auth).json()["sources"]
    assert created["id"] in {s["id"] for s in listed}
    prod_only = app.client.get("/api/v1/sources?environment=prod", headers=app.auth).json()
    assert {s["environment"] for s in prod_only["sources"]} == {"prod"}
    got = app.client.get(f"/api/v1/sources/{created['id']}", headers=app.auth).json()
    assert got == created

    patched = app.client.patch(
        f"/api/v1/sources/{created['id']}",
        json={"name": "Renamed", "rate_limit": 50},
        headers=app.auth,
    ).json()
    assert (patched["name"], patched["rate_limit"], patched["type"]) == ("Renamed", 50, "mobile")

    deleted = app.client.delete(f"/api/v1/sources/{created['id']}", headers=app.auth)
    assert deleted.status_code == 204
    gone = app.client.get(f"/api/v1/sources/{created['id']}", headers=app.auth)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    refused = app.client.post(
        "/v1/track", content=b'{"event":"E","userId":"u"}', headers=basic(created["write_key"])
    )
    assert refused.status_code == 401, "a deleted source's key stops working at once"


def test_rotate_key_replaces_the_old_key(app: App) -> None:
    source = app.source("Rotating")
    rotated = app.client.post(f"/api/v1/sources/{source['id']}/rotate-key", headers=app.auth)
    assert rotated.status_code == 200
    new_key = rotated.json()["write_key"]
    assert new_key != source["write_key"]
    body = json.dumps({"event": "E", "userId": "u"})
    old = app.client.post("/v1/track", content=body, headers=basic(source["write_key"]))
    new = app.client.post("/v1/track", content=body, headers=basic(new_key))
    assert (old.status_code, new.status_code) == (401, 200)


def test_invalid_input_gets_422_with_the_field(app: App) -> None:
    cases = [
        {"name": "x", "type": "carrier-pigeon"},
        {"name": "", "type": "server"},
        {"type": "server"},
        {"name": "x", "type": "server", "environment": "staging"},
        {"name": "x", "type": "server", "unknown": 1},
        {"name": "x", "type": "server", "rate_limit": -5},
    ]
    for body in cases:
        response = app.client.post("/api/v1/sources", json=body, headers=app.auth)
        assert response.status_code == 422, body
        payload = response.json()
        assert payload["code"] == "invalid_request" and payload["errors"][0]["field"]
    garbage = app.client.post(
        "/api/v1/sources",
        content=b"{not json",
        headers={**app.auth, "Content-Type": "application/json"},
    )
    assert garbage.status_code == 422


def test_duplicate_names_conflict_within_an_environment(app: App) -> None:
    app.source("Twin")
    clash = app.client.post(
        "/api/v1/sources", json={"name": "Twin", "type": "server"}, headers=app.auth
    )
    assert clash.status_code == 409 and clash.json()["code"] == "conflict"
    other_env = app.client.post(
        "/api/v1/sources",
        json={"name": "Twin", "type": "server", "environment": "prod"},
        headers=app.auth,
    )
    assert other_env.status_code == 201


def test_unknown_source_is_404(app: App) -> None:
    for method, path in [
        ("GET", "/api/v1/sources/src_nope"),
        ("PATCH", "/api/v1/sources/src_nope"),
        ("DELETE", "/api/v1/sources/src_nope"),
        ("POST", "/api/v1/sources/src_nope/rotate-key"),
        ("GET", "/api/v1/sources/src_nope/events"),
    ]:
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = app.client.request(method, path, headers=app.auth, **kwargs)
        assert response.status_code == 404, (method, path)


def test_openapi_document_is_served(app: App) -> None:
    spec = app.client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/sources" in spec["paths"]
    assert "/api/v1/sources/{source_id}/events/stream" in spec["paths"]


def test_me_workspace_and_status(app: App) -> None:
    me = app.client.get("/api/v1/me", headers=app.auth).json()
    assert me["role"] == "owner"
    workspace = app.client.get("/api/v1/workspace", headers=app.auth).json()
    assert workspace["environments"] == ["dev", "prod"]
    status = app.client.get("/api/v1/status", headers=app.auth).json()
    assert status["queue"]["durable"] is True and status["ready"] is True
