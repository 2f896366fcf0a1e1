"""Shared dependencies: the runtime and the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from shoal.control import User
from shoal.runtime import Runtime
from shoal.web.api.errors import ApiError


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def current_user(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    """The user of the ``Authorization: Bearer <token>`` header, or 401."""
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
