"""The Config API under ``/api/v1`` (Bearer-token auth, OpenAPI at ``/api/v1/openapi.json``)."""

from fastapi import APIRouter

from shoal.web.api import events, sources, workspace

api_router = APIRouter()
api_router.include_router(workspace.router)
api_router.include_router(sources.router)
api_router.include_router(events.router)

__all__ = ["api_router"]
