"""Shared dependencies: the runtime and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from shoal.control import User
from shoal.runtime import Runtime
from shoal.web.api.errors import ApiError
from shoal.web.ui import sessions


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _session_user(request: Request, runtime: Runtime) -> User | None:
    """The user of the web app's session cookie; changes must prove they come from the app."""
    session = sessions.session_of(request)
    if session is None:
        return None
    user = sessions.user_of(runtime.control, session)
    if user is not None and not sessions.csrf_ok(request, session):
        raise ApiError(
            403,
            "csrf",
            "a request authenticated by the session cookie must send the 'X-CSRF-Token' "
            "header (or 'HX-Request'); API clients send 'Authorization: Bearer <token>'",
        )
    return user


def current_user(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    """The user of the ``Authorization: Bearer <token>`` header, or of the app's session
    cookie when there is no such header; else 401."""
    if authorization is None:
        session_user = _session_user(request, runtime)
        if session_user is not None:
            return session_user
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send an API token as 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )
    user = runtime.control.authenticate(token.strip())
    if user is None:
        raise ApiError(401, "unauthorized", "this API token is not valid")
    return user


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UserDep = Annotated[User, Depends(current_user)]
