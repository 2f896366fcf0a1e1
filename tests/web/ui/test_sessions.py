"""Session auth over HTTP against a real server: cookies, CSRF, redirects, expiry."""

from __future__ import annotations

import re
import time

import httpx

from shoal.control import User
from shoal.web.ui.sessions import SessionStore
from tests.server import ShoalServer


def _signed_in(shoal: ShoalServer) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=shoal.url, timeout=30)
    answer = client.post("/signin", data={"token": shoal.token, "next": "/sources"})
    assert answer.status_code == 303 and answer.headers["location"] == "/sources"
    page = client.get("/sources/new")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return client, found.group(1)


def test_config_api_accepts_the_cookie_and_guards_changes(shoal: ShoalServer) -> None:
    client, csrf = _signed_in(shoal)
    try:
        assert client.get("/api/v1/me").json()["role"] == "owner"
        body = {"name": "cookie source", "type": "server"}
        refused = client.post("/api/v1/sources", json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "csrf"
        assert (
            client.post("/api/v1/sources", json=body, headers={"X-CSRF-Token": "x"}).status_code
            == 403
        )
        made = client.post("/api/v1/sources", json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        via_htmx = client.patch(
            f"/api/v1/sources/{made.json()['id']}",
            json={"enabled": False},
            headers={"HX-Request": "true"},
        )
        assert via_htmx.status_code == 200 and via_htmx.json()["enabled"] is False
        # A form post without the token is refused with a page, not a stack trace.
        form = client.post("/sources/new", data={"name": "x", "type": "server"})
        assert form.status_code == 403 and "This form has expired" in form.text
        # Signing out ends the session on the server: the old cookie is worthless.
        cookie = client.cookies.get("shoal_session")
        assert client.post("/signout", data={"csrf_token": csrf}).status_code == 303
    finally:
        client.close()
    stale = httpx.get(shoal.url + "/api/v1/me", cookies={"shoal_session": cookie or ""})
    assert stale.status_code == 401
    page = httpx.get(shoal.url + "/sources", cookies={"shoal_session": cookie or ""})
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/sources"


def test_bearer_tokens_are_unaffected_and_bad_input_gets_pages(shoal: ShoalServer) -> None:
    assert shoal.api("POST", "/sources", json={"name": "bearer", "type": "http"}).status_code == 201
    assert (
        httpx.get(shoal.url + "/api/v1/nope").headers["content-type"].startswith("application/json")
    )
    client, _csrf = _signed_in(shoal)
    try:
        assert client.get("/nope").status_code == 404
        assert client.get("/sources/src_missing").status_code == 404
        assert client.get("/env/staging").status_code == 404
        assert client.get("/sources/src_missing/debugger?type=bogus").status_code == 404
        empty = client.post("/signin", data={"token": ""})
        assert empty.status_code == 422 and "Paste your API token" in empty.text
        evil = client.post("/signin", data={"token": shoal.token, "next": "//evil.example"})
        assert evil.headers["location"] == "/"
    finally:
        client.close()


def test_sessions_expire() -> None:
    user = User("usr_1", "ws_1", "a@example.com", "A", "owner", created_at=None)  # type: ignore[arg-type]
    store = SessionStore(lifetime=0.05)
    session = store.create(user)
    assert store.get(session.id) is session
    time.sleep(0.1)
    assert store.get(session.id) is None
    assert store.get("made-up") is None
