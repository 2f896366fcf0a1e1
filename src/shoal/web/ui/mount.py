"""Attaching the web app to the ASGI app: static assets, pages, sessions and error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from shoal.web.api.deps import get_runtime
from shoal.web.ui import (
    audiences,
    checklist,
    debugger,
    deliveries,
    destinations,
    plans,
    profiles,
    setup,
    setup_destinations,
    shell,
    sources,
)
from shoal.web.ui.delivery_history import DeliveryHistory
from shoal.web.ui.render import FormRejected, SignInRequired, bare_page, current_ui, redirect
from shoal.web.ui.sessions import SessionStore

STATIC_DIR = str(files("shoal.web") / "static")


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.headers.get("hx-request") == "true":
        # htmx follows HX-Redirect with a full page load.
        return Response(status_code=204, headers={"HX-Redirect": exc.next_path})
    return redirect(exc.next_path)


async def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """An error page: inside the app's shell when signed in, else on its own."""
    try:
        ui = await current_ui(request, get_runtime(request))
    except SignInRequired:
        return bare_page(request, "error.html", status, title=title, message=message)
    return ui.error(status, title, message)


async def _form_rejected(request: Request, exc: Exception) -> Response:
    del exc
    return await error_page(
        request,
        403,
        "This form has expired",
        "The page was open too long or came from elsewhere. Go back, reload the page "
        "and try again.",
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    """Unknown pages get a page; the APIs (``/api``, ``/v1``) keep their JSON answers."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if exc.status_code != 404 or path.startswith(("/api/", "/v1/", "/static/")):
        return await http_exception_handler(request, exc)
    return await error_page(request, 404, "Page not found", f"There is no page at {path}.")


def _sample_deliveries_while_running(app: FastAPI, history: DeliveryHistory) -> None:
    """Run the delivery sampler inside the app's lifespan, after the runtime started."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with inner(target) as state:
            history.start()
            try:
                yield state
            finally:
                # Before the runtime stops, while the destinations' counters are readable.
                await history.stop()

    app.router.lifespan_context = lifespan


def mount_ui(app: FastAPI) -> None:
    """Serve the web app under ``/``: static assets, pages and their error pages."""
    runtime = app.state.runtime
    app.state.ui_sessions = SessionStore(runtime.control.engine)
    app.state.ui_delivery_history = DeliveryHistory(runtime.control.engine, runtime.destinations)
    _sample_deliveries_while_running(app, app.state.ui_delivery_history)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(FormRejected, _form_rejected)
    pages = (shell, sources, debugger, setup, checklist, setup_destinations, destinations)
    for module in (*pages, deliveries, profiles, plans, audiences):
        app.include_router(module.router)
    app.include_router(debugger.picker)
    app.add_exception_handler(StarletteHTTPException, _not_found)
