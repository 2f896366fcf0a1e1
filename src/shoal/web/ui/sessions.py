"""Server-side sessions of the web app: a random id in an HttpOnly cookie, kept in memory.

Signing in with an API token creates a session that lasts 7 days. The cookie holds only a
random id; the server keeps, per session, the user it belongs to, a CSRF token and the
notices to show on the next page. Sessions live in the server's memory, so a restart signs
everyone out (they sign in again with their token).

The Config API accepts the session cookie too (``shoal.web.api.deps.current_user``), so the
app's EventSource and htmx requests work; a cookie-authenticated request that changes
something must carry ``HX-Request`` or a matching ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from shoal.control import ControlPlane, User

COOKIE = "shoal_session"
LIFETIME = 7 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    """One signed-in browser."""

    id: str
    user_id: str
    workspace_id: str
    csrf: str
    expires_at: float
    notices: list[str] = field(default_factory=list)

    def flash(self, message: str) -> None:
        """Remember a notice for the next page shown to this browser."""
        self.notices.append(message)

    def take_notices(self) -> list[str]:
        """The pending notices, cleared."""
        taken, self.notices = self.notices, []
        return taken


class SessionStore:
    """Sessions by id, in memory, with expiry."""

    def __init__(self, lifetime: float = LIFETIME) -> None:
        self.lifetime = lifetime
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: User) -> Session:
        """Start a session for ``user``."""
        now = time.time()
        session = Session(
            id=secrets.token_urlsafe(32),
            user_id=user.id,
            workspace_id=user.workspace_id,
            csrf=secrets.token_urlsafe(24),
            expires_at=now + self.lifetime,
        )
        with self._lock:
            self._prune(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, or ``None`` (unknown or expired)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= time.time():
                del self._sessions[session_id]
                session = None
        return session

    def end(self, session_id: str | None) -> None:
        """Sign a session out."""
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def _prune(self, now: float) -> None:
        expired = [sid for sid, s in self._sessions.items() if s.expires_at <= now]
        for sid in expired:
            del self._sessions[sid]
        while len(self._sessions) >= _MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
            del self._sessions[oldest.id]


def store_of(request: Request) -> SessionStore | None:
    """The app's session store, if the web app is mounted."""
    store: SessionStore | None = getattr(request.app.state, "ui_sessions", None)
    return store


def session_of(request: Request) -> Session | None:
    """The request's live session, from its cookie."""
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
