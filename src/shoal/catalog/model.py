"""Typed model and loader for the business-goal / use-case catalog.

The catalog reproduces Segment's "Choosing a use case" guide and its "Use Cases Reference":
four business goals, each with its own use cases, and for every (goal, use case) pair the
suggested events (with properties) and the suggested source and destination types. The data
lives in ``data/business_goals.json`` inside this package and is validated when loaded.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

SOURCE_TYPES: tuple[str, ...] = ("Website", "Mobile", "Reverse ETL", "Advertising")
"""Source types the seeds recommend, in the order the reference tables list them."""

DESTINATION_TYPES: tuple[str, ...] = (
    "Reverse ETL",
    "Analytics",
    "Advertising",
    "Personalization",
    "Email Marketing",
    "SMS & Push Notifications",
)
"""Destination types the seeds recommend."""

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
PropertyType = Literal["string", "number", "integer", "boolean", "array", "object", "date-time"]
CallType = Literal["track", "page", "screen"]

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """Turn a display name into the catalog's stable id.

    Args:
        name: A goal or use-case name, e.g. ``"Build high-value lookalikes"``.

    Returns:
        Lower-case words joined by hyphens, e.g. ``"build-high-value-lookalikes"``.
    """
    return _SLUG_JUNK.sub("-", name.lower()).strip("-")


def _duplicates(values: tuple[str, ...]) -> list[str]:
    seen: set[str] = set()
    dupes: list[str] = []
    for value in values:
        if value in seen and value not in dupes:
            dupes.append(value)
        seen.add(value)
    return dupes


def _check_slug(kind: str, ident: str, name: str) -> None:
    if ident != slugify(name):
        raise ValueError(f"{kind} id {ident!r} must be the slug of its name {name!r}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SuggestedProperty(_Frozen):
    """A property suggested for an event, with its Segment-spec type where the spec has one."""

    name: NonEmptyStr
    type: PropertyType | None = None
    spec_name: NonEmptyStr | None = None


class SuggestedEvent(_Frozen):
    """An event suggested for a use case, as named by the seeds."""

    name: NonEmptyStr
    call: CallType = "track"
    properties: tuple[SuggestedProperty, ...] = ()
    spec_event: NonEmptyStr | None = None
    spec_note: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _unique_properties(self) -> Self:
        dupes = _duplicates(tuple(p.name for p in self.properties))
        if dupes:
            raise ValueError(f"event {self.name!r} has duplicate properties: {', '.join(dupes)}")
        return self


class UseCase(_Frozen):
    """A use case as recommended under one business goal."""

    id: NonEmptyStr
    name: NonEmptyStr
    description: NonEmptyStr
    events: tuple[SuggestedEvent, ...]
    sources: tuple[NonEmptyStr, ...]
    destinations: tuple[NonEmptyStr, ...]

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_slug("use case", self.id, self.name)
        if not self.events:
            raise ValueError(f"use case {self.id!r} suggests no events")
        dupes = _duplicates(tuple(e.name for e in self.events))
        if dupes:
            raise ValueError(f"use case {self.id!r} has duplicate events: {', '.join(dupes)}")
        for field, values, vocabulary in (
            ("sources", self.sources, SOURCE_TYPES),
            ("destinations", self.destinations, DESTINATION_TYPES),
        ):
            if not values:
                raise ValueError(f"use case {self.id!r} lists no {field}")
            unknown = [v for v in values if v not in vocabulary]
            if unknown:
                raise ValueError(
                    f"use case {self.id!r} has unknown {field} type(s) {unknown}; "
                    f"known: {list(vocabulary)}"
                )
            dupes = _duplicates(values)
            if dupes:
                raise ValueError(f"use case {self.id!r} repeats {field}: {', '.join(dupes)}")
        return self

    def event(self, name: str) -> SuggestedEvent:
        """Return the suggested event called ``name``.

        Args:
            name: The event name as the seeds spell it, e.g. ``"Order Completed"``.

        Returns:
            The matching event.

        Raises:
            CatalogLookupError: If this use case suggests no such event.
        """
        for event in self.events:
            if event.name == name:
                return event
        known = ", ".join(e.name for e in self.events)
        raise CatalogLookupError(f"use case {self.id!r} suggests no event {name!r} (has: {known})")


class BusinessGoal(_Frozen):
    """One of the business goals, with its considerations and its use cases."""

    id: NonEmptyStr
    name: NonEmptyStr
    description: NonEmptyStr
    considerations: tuple[NonEmptyStr, ...]
    use_cases: tuple[UseCase, ...]

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_slug("goal", self.id, self.name)
        if not self.use_cases:
            raise ValueError(f"goal {self.id!r} has no use cases")
        dupes = _duplicates(tuple(u.id for u in self.use_cases))
        if dupes:
            raise ValueError(f"goal {self.id!r} has duplicate use case ids: {', '.join(dupes)}")
        return self


class DistinctUseCase(_Frozen):
    """A use case counted once across goals, with the goals that offer it."""

    id: str
    name: str
    goal_ids: tuple[str, ...]


class CatalogLookupError(KeyError):
    """Raised when a goal, use case or event is not in the catalog."""

    def __str__(self) -> str:
        # KeyError.__str__ repr()s its argument; show the message as written instead.
        return str(self.args[0]) if self.args else super().__str__()


class Catalog(_Frozen):
    """The whole catalog: the business goals in the order Segment presents them."""

    version: int = 1
    goals: tuple[BusinessGoal, ...]

    @model_validator(mode="after")
    def _check(self) -> Self:
        dupes = _duplicates(tuple(g.id for g in self.goals))
        if dupes:
            raise ValueError(f"catalog has duplicate goal ids: {', '.join(dupes)}")
        return self

    def goal(self, goal_id: str) -> BusinessGoal:
        """Return the business goal with id ``goal_id``.

        Args:
            goal_id: A goal slug, e.g. ``"optimize-advertising"``.

        Returns:
            The matching goal.

        Raises:
            CatalogLookupError: If no goal has that id.
        """
        for goal in self.goals:
            if goal.id == goal_id:
                return goal
        known = ", ".join(g.id for g in self.goals)
        raise CatalogLookupError(f"unknown business goal {goal_id!r} (known: {known})")

    def use_case(self, goal_id: str, use_case_id: str) -> UseCase:
        """Return a use case as recommended under one goal.

        Args:
            goal_id: A goal slug, e.g. ``"personalize-first-conversion"``.
            use_case_id: A use-case slug, e.g. ``"mitigate-cart-abandonment"``.

        Returns:
            The use case with that goal's description, events, sources and destinations.

        Raises:
            CatalogLookupError: If the goal is unknown or has no such use case.
        """
        goal = self.goal(goal_id)
        for use_case in goal.use_cases:
            if use_case.id == use_case_id:
                return use_case
        known = ", ".join(u.id for u in goal.use_cases)
        raise CatalogLookupError(
            f"business goal {goal_id!r} has no use case {use_case_id!r} (known: {known})"
        )

    def entries(self) -> list[tuple[BusinessGoal, UseCase]]:
        """Return every (goal, use case) pair in catalog order.

        Returns:
            One pair per entry; a use case offered by two goals appears twice.
        """
        return [(goal, use_case) for goal in self.goals for use_case in goal.use_cases]

    def distinct_use_cases(self) -> list[DistinctUseCase]:
        """Return each use case once, in order of first appearance.

        Returns:
            One item per distinct use-case id, named as at its first appearance, with the ids
            of every goal that offers it.
        """
        names: dict[str, str] = {}
        goals: dict[str, list[str]] = {}
        for goal, use_case in self.entries():
            names.setdefault(use_case.id, use_case.name)
            goals.setdefault(use_case.id, []).append(goal.id)
        return [
            DistinctUseCase(id=uid, name=names[uid], goal_ids=tuple(gids))
            for uid, gids in goals.items()
        ]


def parse_catalog(raw: str | bytes) -> Catalog:
    """Parse and validate catalog JSON.

    Args:
        raw: The JSON document, shaped like ``data/business_goals.json``.

    Returns:
        The validated catalog.

    Raises:
        pydantic.ValidationError: If the document breaks a catalog rule (empty name,
            duplicate id or event, unknown source or destination type, ...).
    """
    return Catalog.model_validate_json(raw)


@cache
def load_catalog() -> Catalog:
    """Load the catalog bundled with the package (read once, then cached).

    Returns:
        The validated catalog.
    """
    data = resources.files("shoal.catalog") / "data" / "business_goals.json"
    return parse_catalog(data.read_bytes())
