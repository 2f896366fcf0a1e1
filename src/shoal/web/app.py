"""Assembles the one ASGI app ``shoal serve`` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from shoal import __version__
from shoal.runtime import Runtime
from shoal.web.api import api_router
from shoal.web.api.errors import install_error_handlers
from shoal.web.ui.mount import mount_ui


def create_app(runtime: Runtime, on_started: Callable[[Runtime], None] | None = None) -> FastAPI:
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

    app.mount("/v1", Starlette(routes=runtime.edge.routes(), middleware=runtime.edge.middleware()))
    app.include_router(api_router, prefix="/api/v1")
    mount_ui(app)  # the web app under /, last: it ends with a catch-all page-not-found
    return app
