"""Assembles the one ASGI app ``shoal serve`` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shoal import __version__
from shoal.collect.asgi import EdgeApp
from shoal.runtime import Runtime
from shoal.web.api import api_router
from shoal.web.api.errors import install_error_handlers
from shoal.web.ui.mount import mount_ui


class ShoalApp:
    """The ASGI app ``shoal serve`` runs: ``/v1/*`` straight to the collection edge,
    everything else (the Config API, the web app, lifespan) to the FastAPI app.

    Collection is the hot path; sending it around FastAPI's router and middleware stack
    is worth a third of the cost of a one-event request.
    """

    def __init__(self, api: FastAPI, edge: ASGIApp) -> None:
        self.api = api
        self.prefixes: dict[str, ASGIApp] = {"/v1/": edge}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, target in self.prefixes.items():
                if path.startswith(prefix):
                    await target(scope, receive, send)
                    return
        await self.api(scope, receive, send)


def create_app(runtime: Runtime, on_started: Callable[[Runtime], None] | None = None) -> ShoalApp:
    """The app; its lifespan starts and stops ``runtime``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_started is not None:
            on_started(runtime)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Shoal Config API",
        version=__version__,
        description="Workspaces, sources and the event debugger of a Shoal server.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        if not runtime.ready:
            return JSONResponse({"status": "starting or stopping"}, 503)
        return JSONResponse({"status": "ok", "version": __version__})

    app.include_router(api_router, prefix="/api/v1")
    mount_ui(app)  # the web app under /, last: it ends with a catch-all page-not-found
    return ShoalApp(app, EdgeApp(runtime.edge))
