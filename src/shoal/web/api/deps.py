"""Shared dependencies: the runtime and the signed-in user.

Both are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, and on a
busy machine the two hops there and back cost more than the work (the Profile API's
latency budget is a few milliseconds). The user of a Bearer token comes from a
short-lived cache (``tokens.TokenCache``, 5 s) and only a miss reads the control plane,
in a thread; the session cookie's user is read in a thread every time.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Header, Request

from shoal.control import User
from shoal.runtime import Runtime
from shoal.web.api.errors import ApiError
from shoal.web.api.tokens import TokenCache
from shoal.web.ui import sessions


def get_runtime(request: Request) -> Runtime:
    """The app's runtime (callable outside FastAPI's dependency injection)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def runtime_dep(request: Request) -> Runtime:
    """``get_runtime`` as a dependency that runs on the event loop (no thread hop)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def token_cache(request: Request) -> TokenCache:
    """The app's token cache (one per app: apps in one process have their own users)."""
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    if cache is None:
        cache = request.app.state.token_cache = TokenCache()
    return cache


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


async def current_user(
    request: Request,
    runtime: Annotated[Runtime, Depends(runtime_dep)],
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    """The user of the ``Authorization: Bearer <token>`` header, or of the app's session
    cookie when there is no such header; else 401."""
    if authorization is None and request.cookies.get(sessions.COOKIE):
        session_user = await asyncio.to_thread(_session_user, request, runtime)
        if session_user is not None:
            return session_user
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "unauthorized",
            "send an API token as 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )
    cache = token_cache(request)
    user = cache.get(token)
    if user is None:
        user = await asyncio.to_thread(runtime.control.authenticate, token)
        if user is None:
            raise ApiError(401, "unauthorized", "this API token is not valid")
        cache.put(token, user)
    return user


RuntimeDep = Annotated[Runtime, Depends(runtime_dep)]
UserDep = Annotated[User, Depends(current_user)]
