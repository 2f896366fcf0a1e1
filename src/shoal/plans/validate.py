"""Checking one event against a compiled plan, and turning schema errors into violations.

A violation says which event, which property, what was expected and what arrived::

    {"type": "invalid_type", "field": "properties.total", "property": "total",
     "expected": "number", "actual": "string", "event": "Order Completed",
     "message": "'total' should be a number, got a string ('12.50')", "plan_id": ...}

Types are ``unplanned_event``, ``missing_property``, ``invalid_type``, ``invalid_format``
and ``invalid_property`` (any other schema rule).
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from shoal.plans.model import DRAFT_07, PlanEvent, TrackingPlan, properties_schema, type_label
from shoal.spec.normalize import NormalizedEvent

CHECKED_CALLS = frozenset({"track", "page", "screen"})
REASON_UNPLANNED = "plan_unplanned_event"
REASON_INVALID = "plan_invalid_properties"


def json_type(value: object) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class CompiledEvent:
    """One planned event with its schema compiled once."""

    __slots__ = ("event", "types", "validator")

    def __init__(self, event: PlanEvent) -> None:
        self.event = event
        self.types = {p.name: p.type for p in event.properties}
        schema = {"$schema": DRAFT_07, **properties_schema(event)}
        self.validator = jsonschema_rs.Draft7Validator(schema, validate_formats=True)

    def violations(self, properties: dict[str, Any]) -> list[dict[str, Any]]:
        """What is wrong with ``properties`` (empty when they meet the schema)."""
        if self.validator.is_valid(properties):
            return []
        return [
            self._violation(error, properties) for error in self.validator.iter_errors(properties)
        ]

    def _violation(
        self, error: jsonschema_rs.ValidationError, properties: dict[str, Any]
    ) -> dict[str, Any]:
        kind = error.kind
        path = [str(part) for part in error.instance_path]
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            name = str(kind.property)
            expected = self.types.get(name)
            return {
                "type": "missing_property",
                "field": f"properties.{name}",
                "property": name,
                "expected": expected or "any",
                "message": f"'{name}' is required by the tracking plan but missing "
                f"(expected {type_label(expected)})",
            }
        name = path[0] if path else ""
        field = ".".join(["properties", *path])
        expected = self.types.get(name) if len(path) == 1 else None
        value = properties.get(name) if len(path) == 1 else None
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type) and len(path) == 1:
            actual = json_type(value)
            return {
                "type": "invalid_type",
                "field": field,
                "property": name,
                "expected": expected,
                "actual": actual,
                "message": f"'{name}' should be {type_label(expected)}, "
                f"got {type_label(actual)} ({_shown(value)})",
            }
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format) and len(path) == 1:
            return {
                "type": "invalid_format",
                "field": field,
                "property": name,
                "expected": expected,
                "actual": json_type(value),
                "message": f"'{name}' should be {type_label(expected)}, got {_shown(value)}",
            }
        return {
            "type": "invalid_property",
            "field": field,
            "property": name,
            "expected": expected,
            "message": error.message,
        }


class CompiledPlan:
    """A plan ready to check events: one compiled schema per planned event."""

    def __init__(self, plan: TrackingPlan) -> None:
        self.plan_id = plan.id
        self.name = plan.name
        self.version = plan.version
        self.unplanned = plan.unplanned_events
        self.invalid = plan.invalid_properties
        self.track: dict[str, CompiledEvent] = {}
        self.calls: dict[str, CompiledEvent] = {}
        for event in plan.events:
            compiled = CompiledEvent(event)
            if event.call == "track":
                self.track[event.name] = compiled
            else:
                self.calls[event.call] = compiled

    def _stamp(self, found: list[dict[str, Any]], event_name: str) -> list[dict[str, Any]]:
        for violation in found:
            violation["event"] = event_name
            violation["plan_id"] = self.plan_id
            violation["plan_version"] = self.version
        return found

    def check(self, event: NormalizedEvent) -> None:
        """Apply the plan to one event in place (flag or block it, never drop it).

        Args:
            event: An event of a source that follows this plan.
        """
        if event.status != "accepted" or event.type not in CHECKED_CALLS:
            return
        if event.type == "track":
            compiled = self.track.get(event.event or "")
        else:
            compiled = self.calls.get(event.type)
        if compiled is None:
            if event.type != "track" or self.unplanned == "allow":
                return
            name = event.event or ""
            found = [
                {
                    "type": "unplanned_event",
                    "field": "event",
                    "property": None,
                    "expected": "an event of the tracking plan",
                    "message": f"'{name}' is not in tracking plan {self.name!r}",
                }
            ]
            self._apply(event, self._stamp(found, name), self.unplanned, REASON_UNPLANNED)
            return
        if self.invalid == "allow":
            return
        properties = event.message.get("properties")
        found = compiled.violations(properties if isinstance(properties, dict) else {})
        if found:
            self._apply(
                event, self._stamp(found, compiled.event.name), self.invalid, REASON_INVALID
            )

    @staticmethod
    def _apply(
        event: NormalizedEvent, found: list[dict[str, Any]], policy: str, reason: str
    ) -> None:
        event.violations = [*(event.violations or []), *found]
        if policy == "block":
            event.status = "rejected"
            event.reason = reason
