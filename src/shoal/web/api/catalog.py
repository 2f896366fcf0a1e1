"""``/api/v1/catalog``: the business goals, their use cases, and what each one suggests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shoal.catalog import BusinessGoal, CatalogLookupError, UseCase, load_catalog
from shoal.web.api.deps import UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(prefix="/catalog", tags=["catalog"])


def use_case_view(use_case: UseCase) -> dict[str, Any]:
    """A use case as the API shows it: events with property names, source and destination types."""
    return {
        "id": use_case.id,
        "name": use_case.name,
        "description": use_case.description,
        "events": [
            {
                "name": e.name,
                "call": e.call,
                "properties": [p.name for p in e.properties],
                "property_types": {p.name: p.type for p in e.properties},
            }
            for e in use_case.events
        ],
        "sources": list(use_case.sources),
        "destinations": list(use_case.destinations),
    }


def goal_view(goal: BusinessGoal) -> dict[str, Any]:
    """A business goal with its considerations and use cases."""
    return {
        "id": goal.id,
        "name": goal.name,
        "description": goal.description,
        "considerations": list(goal.considerations),
        "use_cases": [use_case_view(u) for u in goal.use_cases],
    }


def _lookup_error(exc: CatalogLookupError) -> ApiError:
    return ApiError(404, "not_found", str(exc))


@router.get("/business-goals")
def business_goals(user: UserDep) -> list[dict[str, Any]]:
    """All four business goals with their use cases, as Segment's guide lists them."""
    del user
    return [goal_view(g) for g in load_catalog().goals]


@router.get("/business-goals/{goal_id}")
def business_goal(goal_id: str, user: UserDep) -> dict[str, Any]:
    """One business goal."""
    del user
    try:
        return goal_view(load_catalog().goal(goal_id))
    except CatalogLookupError as exc:
        raise _lookup_error(exc) from None


@router.get("/business-goals/{goal_id}/use-cases/{use_case_id}")
def use_case(goal_id: str, use_case_id: str, user: UserDep) -> dict[str, Any]:
    """One use case as a goal recommends it."""
    del user
    try:
        return use_case_view(load_catalog().use_case(goal_id, use_case_id))
    except CatalogLookupError as exc:
        raise _lookup_error(exc) from None


@router.get("/use-cases")
def distinct_use_cases(user: UserDep) -> list[dict[str, Any]]:
    """Each distinct use case once, with the goals that offer it."""
    del user
    return [u.model_dump(mode="json") for u in load_catalog().distinct_use_cases()]
