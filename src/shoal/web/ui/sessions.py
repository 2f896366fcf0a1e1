"""Server-side sessions of the web app: a random token in an HttpOnly cookie, kept in the
control-plane database so that restarting Shoal signs nobody out.

Signing in with an API token creates a session. The cookie holds a random 256-bit token;
the database keeps only its SHA-256 (``ui_sessions``), with the user, the workspace and when
the session expires: after ``IDLE`` without use, and ``LIFETIME`` after signing in at the
latest. Signing out deletes the row. The CSRF token is derived from the session token, so
it needs no storage and a leaked database reveals neither.

The notices a page leaves for the next one ("Created source …") stay in this process's
memory: they live for one redirect, and losing one to a restart costs nothing, whereas
writing them would put a database write in every form post.

The Config API accepts the session cookie too (``shoal.web.api.deps.current_user``), so the
app's EventSource and htmx requests work; a cookie-authenticated request that changes
something must carry ``HX-Request`` or a matching ``X-CSRF-Token`` header.

Every method of ``SessionStore`` does blocking database work: async callers run it in a
thread.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update
from starlette.requests import Request
from starlette.responses import Response

from shoal.control import ControlPlane, User
from shoal.control import tables as t
from shoal.control.secrets import hash_token
from shoal.web.ui.times import as_utc

COOKIE = "shoal_session"
IDLE = 7 * 24 * 3600
"""Seconds without a request after which a session ends."""
LIFETIME = 30 * 24 * 3600
"""Seconds after signing in after which a session ends however busy it is."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_PER_USER = 50
"""Sessions one user may hold; signing in once more ends their least recently used one."""
_MAX_NOTICE_SLOTS = 10_000
_MAX_TOKEN = 200


@dataclass(slots=True)
class Session:
    """One signed-in browser."""

    id: str
    """The token from the cookie (only its hash is stored)."""
    user_id: str
    workspace_id: str
    csrf: str
    expires_at: float
    notices: list[str] = field(default_factory=list)
    """This session's pending notices: the very list the store keeps for it."""

    def flash(self, message: str) -> None:
        """Remember a notice for the next page shown to this browser."""
        self.notices.append(message)

    def take_notices(self) -> list[str]:
        """The pending notices, cleared."""
        taken = list(self.notices)
        self.notices.clear()
        return taken


def csrf_of(token: str) -> str:
    """The CSRF token of a session: derived from its token, so nothing stores it."""
    return hmac.new(token.encode(), b"shoal csrf", hashlib.sha256).hexdigest()[:40]


class SessionStore:
    """Sessions in the control-plane database, with idle and absolute expiry."""

    def __init__(
        self,
        engine: Engine,
        idle: float = IDLE,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock
        # Moving the idle deadline on every request would be a write per page view; a
        # session used again within this many seconds keeps its row as it is.
        self.touch_every = min(300.0, idle / 10)
        self._notices: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _notices_of(self, key: str) -> list[str]:
        with self._lock:
            found = self._notices.get(key)
            if found is None:
                found = self._notices[key] = []
                while len(self._notices) > _MAX_NOTICE_SLOTS:
                    self._notices.popitem(last=False)
            else:
                self._notices.move_to_end(key)
            return found

    def create(self, user: User) -> Session:
        """Start a session for ``user`` (and forget expired ones)."""
        token = secrets.token_urlsafe(32)
        key = hash_token(token)
        now = self._now()
        expires = now.timestamp() + min(self.idle, self.lifetime)
        table = t.ui_sessions
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.expires_at <= now))
            conn.execute(
                insert(table).values(
                    token_hash=key,
                    user_id=user.id,
                    workspace_id=user.workspace_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=datetime.fromtimestamp(expires, UTC),
                )
            )
            surplus = conn.execute(
                select(table.c.token_hash)
                .where(table.c.user_id == user.id)
                .order_by(table.c.last_seen_at.desc(), table.c.token_hash)
                .offset(MAX_PER_USER)
            ).all()
            if surplus:
                conn.execute(delete(table).where(table.c.token_hash.in_([r[0] for r in surplus])))
        return Session(
            token, user.id, user.workspace_id, csrf_of(token), expires, self._notices_of(key)
        )

    def get(self, token: str | None) -> Session | None:
        """The live session with this token, or ``None`` (unknown, expired or signed out)."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        key = hash_token(token)
        table = t.ui_sessions
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.token_hash == key)).mappings().first()
        if row is None:
            return None
        now = self._now()
        expires = as_utc(row["expires_at"])
        if expires <= now:
            self.end(token)
            return None
        if (now - as_utc(row["last_seen_at"])).total_seconds() >= self.touch_every:
            ends_at = as_utc(row["created_at"]).timestamp() + self.lifetime
            expires = datetime.fromtimestamp(min(ends_at, now.timestamp() + self.idle), UTC)
            with self.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.token_hash == key)
                    .values(last_seen_at=now, expires_at=expires)
                )
        return Session(
            token,
            row["user_id"],
            row["workspace_id"],
            csrf_of(token),
            expires.timestamp(),
            self._notices_of(key),
        )

    def end(self, token: str | None) -> None:
        """Sign a session out: its row is deleted, so its cookie is worthless."""
        if not token:
            return
        key = hash_token(token)
        with self.engine.begin() as conn:
            conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.token_hash == key))
        with self._lock:
            self._notices.pop(key, None)


def store_of(request: Request) -> SessionStore | None:
    """The app's session store, if the web app is mounted."""
    store: SessionStore | None = getattr(request.app.state, "ui_sessions", None)
    return store


def session_of(request: Request) -> Session | None:
    """The request's live session, from its cookie (blocking: a database read)."""
    store = store_of(request)
    return store.get(request.cookies.get(COOKIE)) if store is not None else None


def user_of(control: ControlPlane, session: Session) -> User | None:
    """The session's user, if they still exist."""
    for user in control.list_users(session.workspace_id):
        if user.id == session.user_id:
            return user
    return None


def csrf_ok(request: Request, session: Session, form_token: str | None = None) -> bool:
    """Whether a state-changing request proves it comes from this app's own pages.

    Safe methods always pass. Otherwise the request needs the session's CSRF token (as the
    ``X-CSRF-Token`` header or the ``csrf_token`` form field) or htmx's ``HX-Request``
    header, which another site cannot send without a CORS preflight that Shoal never allows.
    """
    if request.method in SAFE_METHODS:
        return True
    if request.headers.get("hx-request") == "true":
        return True
    sent = request.headers.get("x-csrf-token") or form_token or ""
    return hmac.compare_digest(sent.encode(), session.csrf.encode())


def set_cookie_on(response: Response, request: Request, session: Session) -> None:
    """Put the session cookie on a response (Secure when the request came over HTTPS)."""
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(LIFETIME),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
