"""Tracking plans: the events a source should send, and the JSON Schema each one must meet.

A plan lists events (a track event by name, or the page / screen call) with their
properties, each typed from Segment's spec where the spec types it. Every event becomes a
draft-07 JSON Schema shaped like a Segment Protocols rule: ``{"properties": {"properties":
{...}}}``. Per plan, two policies say what happens to an unplanned event and to an event
whose properties break its schema: ``allow`` (keep it quietly), ``flag`` (keep it with
violations) or ``block`` (store it as rejected with violations, visible in the debugger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shoal.catalog import BusinessGoal, SuggestedEvent, UseCase

Policy = Literal["allow", "flag", "block"]
POLICIES: tuple[str, ...] = ("allow", "flag", "block")
PropertyType = Literal["string", "number", "integer", "boolean", "array", "object", "date-time"]
CallType = Literal["track", "page", "screen"]
DRAFT_07 = "http://json-schema.org/draft-07/schema#"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PlanProperty(BaseModel):
    """A property of a planned event; ``type`` ``None`` accepts any JSON value."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    type: PropertyType | None = None
    required: bool = True
    description: str = Field(default="", max_length=2000)


class PlanEvent(BaseModel):
    """A planned event: a track event by name, or the page or screen call (any name)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    call: CallType = "track"
    description: str = Field(default="", max_length=2000)
    properties: list[PlanProperty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_properties(self) -> Self:
        names = [p.name for p in self.properties]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"event {self.name!r} lists property {', '.join(dupes)} twice")
        return self

    def property(self, name: str) -> PlanProperty | None:
        """Return the property called ``name``, or ``None``."""
        return next((p for p in self.properties if p.name == name), None)


class PlanEvents(BaseModel):
    """The editable event list of a plan, checked as a whole."""

    model_config = ConfigDict(extra="forbid")

    events: list[PlanEvent]

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [e.name for e in self.events]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"the plan lists event {', '.join(dupes)} twice")
        for call in ("page", "screen"):
            entries = [e.name for e in self.events if e.call == call]
            if len(entries) > 1:
                raise ValueError(
                    f"a plan checks every {call} call against one entry, but it has "
                    f"{len(entries)}: {', '.join(entries)}"
                )
        return self


@dataclass(frozen=True, slots=True)
class TrackingPlan:
    """A stored plan with the sources it checks."""

    id: str
    workspace_id: str
    name: str
    description: str
    goal_id: str | None
    use_case_id: str | None
    unplanned_events: str
    invalid_properties: str
    events: tuple[PlanEvent, ...]
    version: int
    created_at: datetime
    updated_at: datetime
    source_ids: tuple[str, ...] = field(default=())

    def event(self, name: str) -> PlanEvent | None:
        """Return the planned event called ``name``, or ``None``."""
        return next((e for e in self.events if e.name == name), None)


def type_label(type_: str | None) -> str:
    """Say what a property type expects, e.g. ``"a number"``."""
    labels = {
        None: "any value",
        "string": "a string",
        "number": "a number",
        "integer": "an integer",
        "boolean": "a boolean",
        "array": "an array",
        "object": "an object",
        "date-time": "an ISO-8601 date-time string",
    }
    return labels.get(type_, str(type_))


def property_schema(prop: PlanProperty) -> dict[str, Any]:
    """The JSON Schema of one property."""
    schema: dict[str, Any] = {}
    if prop.type == "date-time":
        schema = {"type": "string", "format": "date-time"}
    elif prop.type is not None:
        schema = {"type": prop.type}
    if prop.description:
        schema["description"] = prop.description
    return schema


def properties_schema(event: PlanEvent) -> dict[str, Any]:
    """The JSON Schema an event's ``properties`` object must meet."""
    return {
        "type": "object",
        "properties": {p.name: property_schema(p) for p in event.properties},
        "required": [p.name for p in event.properties if p.required],
    }


def event_schema(event: PlanEvent) -> dict[str, Any]:
    """The whole-message JSON Schema of a planned event, as Segment Protocols shapes it."""
    schema: dict[str, Any] = {
        "$schema": DRAFT_07,
        "title": event.name,
        "type": "object",
        "properties": {"properties": properties_schema(event)},
    }
    if event.description:
        schema["description"] = event.description
    if event.call == "track":
        schema["properties"]["event"] = {"const": event.name}
    else:
        schema["properties"]["type"] = {"const": event.call}
    return schema


def _event_from_catalog(suggested: SuggestedEvent) -> PlanEvent:
    notes = []
    if suggested.spec_event:
        notes.append(f"Segment's spec calls this event {suggested.spec_event!r}.")
    if suggested.spec_note:
        notes.append(suggested.spec_note)
    if suggested.call != "track":
        notes.append(f"Checked against every {suggested.call} call of the source.")
    properties = [
        PlanProperty(
            name=p.name,
            type=p.type,
            description=f"Segment spec: {p.spec_name!r}." if p.spec_name else "",
        )
        for p in suggested.properties
    ]
    return PlanEvent(
        name=suggested.name,
        call=suggested.call,
        description=" ".join(notes),
        properties=properties,
    )


def events_from_use_case(use_case: UseCase) -> list[PlanEvent]:
    """The planned events for a use case: its suggested events and properties.

    Args:
        use_case: A catalog use case.

    Returns:
        One planned event per suggested event; every suggested property is required, as the
        seeds present them as the minimum to track, and typed where Segment's spec types it.
    """
    return PlanEvents(events=[_event_from_catalog(e) for e in use_case.events]).events


def plan_description(goal: BusinessGoal, use_case: UseCase) -> str:
    """A plan description naming the goal and use case it came from."""
    return f"Suggested events of {use_case.name!r} ({goal.name}): {use_case.description}"
