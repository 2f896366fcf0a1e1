"""The /v1 edge behaves like Segment's HTTP Tracking API, and never loses an event."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from tests.inprocess import App, basic


def post(app: App, path: str, body: Any, key: str | None = None, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = basic(key) if key else {}
    return app.client.post(f"/v1/{path}", content=data, headers={**auth, **headers})


@pytest.mark.parametrize(
    ("path", "kind", "extra"),
    [
        ("identify", "identify", {"traits": {"email": "a@b.c"}}),
        ("i", "identify", {}),
        ("track", "track", {"event": "Signed Up"}),
        ("t", "track", {"event": "Signed Up"}),
        ("page", "page", {"name": "Home"}),
        ("p", "page", {}),
        ("screen", "screen", {"name": "Feed"}),
        ("s", "screen", {}),
        ("group", "group", {"groupId": "acme"}),
        ("g", "group", {"groupId": "acme"}),
        ("alias", "alias", {"previousId": "anon"}),
        ("a", "alias", {"previousId": "anon"}),
    ],
)
def test_single_calls_and_short_paths(
    app: App, path: str, kind: str, extra: dict[str, Any]
) -> None:
    source = app.source(f"single {path}")
    response = post(app, path, {"userId": "u1", **extra}, source["write_key"])
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [stored] = app.events(source["id"], 1)
    assert stored["type"] == kind and stored["status"] == "accepted"
    assert stored["userId"] == "u1" and stored["messageId"] and stored["receivedAt"]


def test_batch_merges_context_and_keeps_bad_items_as_rejected(app: App) -> None:
    source = app.source("batch")
    body = {
        "batch": [
            {"type": "track", "event": "A", "userId": "u", "context": {"locale": "fr"}},
            {"type": "identify", "anonymousId": "x"},
            {"type": "track", "userId": "u"},
            "not an object",
        ],
        "context": {"library": {"name": "analytics-python"}, "locale": "en"},
        "sentAt": "2026-01-01T00:00:00Z",
    }
    assert post(app, "batch", body, source["write_key"]).status_code == 200
    events = app.events(source["id"], 4)
    by_status = sorted((e["status"], (e["reason"] or {}).get("code")) for e in events)
    assert by_status == [
        ("accepted", None),
        ("accepted", None),
        ("rejected", "not_an_object"),
        ("rejected", "track_missing_event"),
    ]
    first = next(e for e in events if e.get("event") == "A")
    assert first["context"] == {"locale": "fr", "library": {"name": "analytics-python"}}


@pytest.mark.parametrize("path", ["import", "b"])
def test_import_and_b_are_batches(app: App, path: str) -> None:
    source = app.source(f"alias {path}")
    body = {"batch": [{"type": "track", "event": "E", "userId": "u"}]}
    assert post(app, path, body, source["write_key"]).status_code == 200
    assert app.events(source["id"], 1)[0]["event"] == "E"


def test_write_key_in_body_as_text_plain(app: App) -> None:
    source = app.source("body key")
    body = {"writeKey": source["write_key"], "batch": [{"type": "page", "anonymousId": "a"}]}
    response = post(app, "b", body, None, **{"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert app.events(source["id"], 1)[0]["type"] == "page"


def test_basic_auth_without_colon_is_accepted(app: App) -> None:
    source = app.source("legacy basic")
    response = app.client.post(
        "/v1/track",
        content=json.dumps({"event": "E", "userId": "u"}),
        headers=basic(source["write_key"], colon=False),
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("encoding", "pack"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
def test_compressed_bodies(app: App, encoding: str, pack: Any) -> None:
    source = app.source(f"compressed {encoding}")
    body = pack(json.dumps({"batch": [{"type": "track", "event": "Z", "userId": "u"}]}).encode())
    response = post(app, "batch", body, source["write_key"], **{"Content-Encoding": encoding})
    assert response.status_code == 200
    assert app.events(source["id"], 1)[0]["event"] == "Z"


def test_errors_name_the_problem(app: App) -> None:
    source = app.source("errors")
    key = source["write_key"]
    cases = [
        (post(app, "track", b"{oops", key), 400, "invalid_json"),
        (post(app, "track", [1, 2], key), 400, "invalid_body"),
        (post(app, "batch", {"batch": 5}, key), 400, "invalid_body"),
        (post(app, "track", {"event": "E", "userId": "u"}), 401, "missing_write_key"),
        (post(app, "track", {"event": "E", "userId": "u"}, "wrong"), 401, "invalid_write_key"),
        (
            post(app, "track", b"\x1f\x8b junk", key, **{"Content-Encoding": "gzip"}),
            400,
            "invalid_encoding",
        ),
        (post(app, "track", b"{}", key, **{"Content-Encoding": "br"}), 400, "unsupported_encoding"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["code"] == code and body["message"]


def test_size_limits(app: App) -> None:
    source = app.source("limits")
    key = source["write_key"]
    big = {"event": "E", "userId": "u", "properties": {"blob": "x" * 33_000}}
    response = post(app, "track", big, key)
    assert response.status_code == 400 and response.json()["code"] == "body_too_large"
    huge = {"batch": [{"type": "track", "event": "E", "userId": "u", "p": "x" * 30_000}] * 18}
    assert post(app, "batch", huge, key).status_code == 400
    bomb = gzip.compress(json.dumps({"batch": [], "pad": "0" * 2_000_000}).encode())
    response = post(app, "batch", bomb, key, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.json()["code"] == "body_too_large"
    # One oversize item inside an acceptable batch: the rest is kept, it is rejected.
    mixed = {
        "batch": [{"type": "track", "event": "Small", "userId": "u"}, {**big, "type": "track"}]
    }
    assert post(app, "batch", mixed, key).status_code == 200
    reasons = {
        (e.get("event"), (e["reason"] or {}).get("code")) for e in app.events(source["id"], 2)
    }
    assert reasons == {("Small", None), ("E", "event_too_large")}


def test_more_than_2500_items_are_kept_but_rejected(app: App) -> None:
    source = app.source("too many")
    batch = [{"type": "track", "event": "E", "userId": "u"} for _ in range(2502)]
    assert post(app, "batch", {"batch": batch}, source["write_key"]).status_code == 200
    events = app.events(source["id"], 1000)
    rejected = [e for e in events if e["status"] == "rejected"]
    assert [e["reason"]["code"] for e in rejected] == ["batch_too_many_events"] * 2


def test_duplicate_message_ids_are_stored_once(app: App) -> None:
    source = app.source("dedupe")
    message = {"event": "E", "userId": "u", "messageId": "same-id"}
    for _ in range(3):
        assert post(app, "track", message, source["write_key"]).status_code == 200
    post(app, "track", {**message, "messageId": "other"}, source["write_key"])
    events = app.events(source["id"], 2)
    assert sorted(e["messageId"] for e in events) == ["other", "same-id"]


def test_disabled_source_is_refused_until_enabled(app: App) -> None:
    source = app.source("toggle")
    patch = app.client.patch(
        f"/api/v1/sources/{source['id']}", json={"enabled": False}, headers=app.auth
    )
    assert patch.status_code == 200
    response = post(app, "track", {"event": "E", "userId": "u"}, source["write_key"])
    assert response.status_code == 401 and response.json()["code"] == "source_disabled"
    app.client.patch(f"/api/v1/sources/{source['id']}", json={"enabled": True}, headers=app.auth)
    assert post(app, "track", {"event": "E", "userId": "u"}, source["write_key"]).status_code == 200


def test_rate_limit_answers_429_with_retry_after(app: App) -> None:
    # 1 event/s with a burst of 100: the first 100 events pass, the next is refused.
    source = app.source("limited", rate_limit=1)
    burst = {"batch": [{"type": "track", "event": "E", "userId": "u"}] * 100}
    assert post(app, "batch", burst, source["write_key"]).status_code == 200
    limited = post(app, "track", {"event": "E", "userId": "u"}, source["write_key"])
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Reset"] == limited.headers["Retry-After"]
    assert limited.json()["code"] == "rate_limited"
    assert len(app.events(source["id"], 100)) == 100, "refused events were not stored"


def test_cors_preflight_and_headers(app: App) -> None:
    preflight = app.client.options(
        "/v1/t",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    source = app.source("cors")
    response = post(
        app, "t", {"event": "E", "userId": "u"}, source["write_key"], Origin="https://shop.example"
    )
    assert response.headers["access-control-allow-origin"] == "*"


def test_settings_document_points_sdks_here(app: App) -> None:
    source = app.source("settings")
    response = app.client.get(f"/v1/projects/{source['write_key']}/settings")
    assert response.status_code == 200
    segment = response.json()["integrations"]["Segment.io"]
    assert segment["apiKey"] == source["write_key"]
    assert segment["apiHost"] == "testserver/v1" and segment["protocol"] == "http"
    missing = app.client.get("/v1/projects/nope/settings")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_write_key"


def test_metrics_endpoint_accepts_telemetry(app: App) -> None:
    body = {"series": [{"type": "Counter", "metric": "x", "value": 1, "tags": {}}]}
    assert post(app, "m", body).status_code == 200


def test_unknown_paths_and_wrong_methods_get_clear_json(app: App) -> None:
    wrong_method = app.client.get("/v1/track")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"
    missing = app.client.post("/v1/nope", content=b"{}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad_settings = app.client.post("/v1/projects/key/settings")
    assert bad_settings.status_code == 405
    nested = app.client.get("/v1/projects/a/b/settings")
    assert nested.status_code == 404
