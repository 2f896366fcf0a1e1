"""The Config API under ``/api/v1`` (Bearer-token auth, OpenAPI at ``/api/v1/openapi.json``)."""

from fastapi import APIRouter

from shoal.web.api import (
    audience_destinations,
    audiences,
    catalog,
    computed_traits,
    destinations,
    events,
    identity,
    members,
    plans,
    profiles,
    setup,
    sources,
    workspace,
)

api_router = APIRouter()
api_router.include_router(workspace.router)
api_router.include_router(sources.router)
api_router.include_router(events.router)
api_router.include_router(catalog.router)
api_router.include_router(setup.router)
api_router.include_router(plans.router)
api_router.include_router(members.router)
api_router.include_router(identity.router)
api_router.include_router(profiles.router)
api_router.include_router(computed_traits.router)
api_router.include_router(destinations.router)
api_router.include_router(audiences.router)
api_router.include_router(audience_destinations.router)

__all__ = ["api_router"]
