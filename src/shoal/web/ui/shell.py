"""The app shell: home, sign-in and sign-out, the Dev/Prod switch, and pages not found."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from shoal.web.api.deps import RuntimeDep
from shoal.web.ui.render import (
    ENV_COOKIE,
    ENVIRONMENTS,
    UiDep,
    bare_page,
    local_path,
    redirect,
)
from shoal.web.ui.sessions import COOKIE, session_of, set_cookie_on, store_of, user_of

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(ui: UiDep) -> Response:
    """Where a signed-in person starts: the welcome screen on a new workspace, else the app."""
    record = await asyncio.to_thread(ui.runtime.setup.get, ui.user.workspace_id)
    if record is not None and record.publish_verified_at is None:
        return redirect("/setup")
    if record is None:
        sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id)
        if not sources:
            return redirect("/welcome")
    return redirect("/sources")


@router.get("/welcome")
async def welcome(ui: UiDep) -> Response:
    """Welcome to Shoal: Get started (guided setup) or go straight to the sources. A
    workspace that guided setup would refuse is told so here, not after choosing a goal."""
    workspace = ui.user.workspace_id
    record = await asyncio.to_thread(ui.runtime.setup.get, workspace)
    refused = None
    if record is None:
        check = await asyncio.to_thread(ui.runtime.setup.eligibility, workspace)
        refused = None if check.eligible else check.message
    return ui.page("welcome.html", started=record is not None, refused=refused)


@router.get("/signin")
async def sign_in_form(request: Request, runtime: RuntimeDep, next: str = "/") -> Response:
    """The sign-in form (or straight on, when the browser is already signed in)."""
    session = await asyncio.to_thread(session_of, request)
    if session is not None:
        user = await asyncio.to_thread(user_of, runtime.control, session)
        if user is not None:
            return redirect(local_path(next))
    notice = "You are signed out." if request.query_params.get("signed_out") else None
    return bare_page(request, "signin.html", next=local_path(next), notice=notice)


@router.post("/signin")
async def sign_in(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the API token and start a session (see ``sessions`` for how long it lasts)."""
    target = local_path(next)
    token = token.strip()
    if not token:
        return bare_page(
            request,
            "signin.html",
            422,
            next=target,
            error="Paste your API token to sign in.",
        )
    user = await asyncio.to_thread(runtime.control.authenticate, token)
    store = store_of(request)
    if user is None or store is None:
        return bare_page(
            request,
            "signin.html",
            401,
            next=target,
            error=(
                "That token is not valid. Use the token `shoal serve` printed on its first "
                "start, or one an owner created for you."
            ),
        )
    session = await asyncio.to_thread(store.create, user)
    session.flash(f"Signed in as {user.email}.")
    response = redirect(target)
    set_cookie_on(response, request, session)
    return response


@router.post("/signout")
async def sign_out(ui: UiDep) -> Response:
    """End the session and forget the cookie."""
    await ui.form()
    store = store_of(ui.request)
    if store is not None:
        await asyncio.to_thread(store.end, ui.session.id)
    response = redirect("/signin?signed_out=1")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/env/{env}")
async def switch_environment(env: str, request: Request, next: str = "/") -> Response:
    """The Dev/Prod switch: remember the environment, then go back to the page."""
    target = local_path(next)
    if env not in ENVIRONMENTS:
        return bare_page(
            request,
            "error.html",
            404,
            title="No such environment",
            message=f"Shoal has a dev and a prod environment, not {env!r}.",
        )
    response = redirect(target)
    response.set_cookie(ENV_COOKIE, env, max_age=365 * 24 * 3600, samesite="lax")
    return response
