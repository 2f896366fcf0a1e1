"""Session auth over HTTP against a real server: cookies, CSRF, redirects, expiry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from shoal.control import ControlPlane
from shoal.control.secrets import hash_token
from shoal.control.tables import metadata, ui_sessions
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


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    """A migrated control plane with its first workspace and owner."""
    plane = ControlPlane(f"sqlite:///{tmp_path / 'control.db'}")
    plane.migrate()
    plane.bootstrap("token")
    yield plane
    plane.close()


class Clock:
    """A clock the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_when_idle_and_at_their_lifetime(control: ControlPlane) -> None:
    owner = control.owner()
    clock = Clock()
    store = SessionStore(control.engine, idle=100, lifetime=250, clock=clock)
    session = store.create(owner)
    # Only the token's hash is stored.
    with control.engine.connect() as conn:
        (stored,) = conn.execute(select(ui_sessions.c.token_hash)).scalars().all()
    assert stored == hash_token(session.id) and session.id not in stored
    clock.now += 99
    assert store.get(session.id) is not None  # used: the idle deadline moves on
    clock.now += 99
    found = store.get(session.id)
    assert found is not None and found.csrf == session.csrf
    clock.now += 101
    assert store.get(session.id) is None  # idle for longer than 100 s
    busy = store.create(owner)
    for _ in range(4):
        clock.now += 60
        assert store.get(busy.id) is not None
    clock.now += 60  # 300 s after signing in: past the lifetime however busy
    assert store.get(busy.id) is None
    assert store.get("made-up") is None and store.get("") is None


def test_sign_out_deletes_and_notices_follow_the_session(control: ControlPlane) -> None:
    owner = control.owner()
    store = SessionStore(control.engine)
    session = store.create(owner)
    session.flash("hello")
    again = store.get(session.id)
    assert again is not None and again.take_notices() == ["hello"]
    assert store.get(session.id) is not None and store.get(session.id).take_notices() == []  # type: ignore[union-attr]
    store.end(session.id)
    assert store.get(session.id) is None
    with control.engine.connect() as conn:
        assert conn.execute(select(ui_sessions)).first() is None


def test_a_session_survives_a_server_restart(fresh_dir: Path) -> None:
    server = ShoalServer(fresh_dir).start()
    try:
        client, _csrf = _signed_in(server)
        cookie = client.cookies.get("shoal_session")
        client.close()
        assert cookie
        server.stop()
        server.start()
        kept = httpx.get(
            server.url + "/sources", cookies={"shoal_session": cookie}, follow_redirects=False
        )
        assert kept.status_code == 200 and "Sources" in kept.text
        assert (
            httpx.get(server.url + "/api/v1/me", cookies={"shoal_session": cookie}).json()["role"]
            == "owner"
        )
        # The database holds the token's hash, never the token.
        stored = b"".join(f.read_bytes() for f in fresh_dir.glob("control.db*"))
        assert hash_token(cookie).encode() in stored and cookie.encode() not in stored
    finally:
        server.stop()


def test_the_migration_builds_the_tables_the_code_declares(control: ControlPlane) -> None:
    with control.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    mine = [d for d in differences if "ui_sessions" in repr(d) or "ui_delivery" in repr(d)]
    assert mine == []
    assert {"ui_sessions", "ui_delivery_samples"} <= set(inspect(control.engine).get_table_names())
