"""Conditions (mapping triggers, filter ``if``) and destination filters in Segment's order.

A condition tests one field of the message: ``type``, ``event``, or any dot path such as
``properties.plan`` or ``context.app.version``. A trigger combines conditions with ``all``
or ``any`` (one level, as Segment's trigger UI). A destination filter has a trigger
(``if``) and actions; across all enabled filters actions run in Segment's order:
sample, then drop, then drop properties, then allow properties.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal[
    "is",
    "is_not",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "exists",
    "not_exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
]
_MISSING = object()
_ORDER = ("sample", "drop", "drop_properties", "allow_properties")
_OBJECTS = ("properties", "traits", "context")


def lookup(message: dict[str, Any], path: str) -> Any:
    """The value at a dot path (``$.a.b`` or ``a.b``), or ``_MISSING``."""
    path = path.removeprefix("$").removeprefix(".")
    value: Any = message
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def missing(value: object) -> bool:
    """Whether ``lookup`` found nothing."""
    return value is _MISSING


class Condition(BaseModel):
    """One test on one field."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, description="type, event, or a dot path: properties.plan")
    op: Op = "is"
    value: Any = None

    def test(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` passes this condition (missing fields are null-tolerant)."""
        found = lookup(message, self.field)
        if self.op == "exists":
            return not missing(found) and found is not None
        if self.op == "not_exists":
            return missing(found) or found is None
        if self.op == "is":
            return not missing(found) and found == self.value
        if self.op == "is_not":
            return missing(found) or found != self.value
        if self.op in ("in", "not_in"):
            inside = not missing(found) and isinstance(self.value, list) and found in self.value
            return inside if self.op == "in" else not inside
        if missing(found) or found is None:
            return self.op == "not_contains"
        if self.op in ("contains", "not_contains", "starts_with", "ends_with"):
            text, needle = str(found), str(self.value)
            return {
                "contains": needle in text,
                "not_contains": needle not in text,
                "starts_with": text.startswith(needle),
                "ends_with": text.endswith(needle),
            }[self.op]
        try:
            left, right = float(found), float(self.value)
        except (TypeError, ValueError):
            return False
        return {"gt": left > right, "gte": left >= right, "lt": left < right}.get(
            self.op, left <= right
        )


class Trigger(BaseModel):
    """Conditions joined by ``all`` or ``any``; no conditions matches every message."""

    model_config = ConfigDict(extra="forbid")

    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list, max_length=20)

    def test(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` triggers."""
        if not self.conditions:
            return True
        results = (c.test(message) for c in self.conditions)
        return all(results) if self.match == "all" else any(results)


class FilterAction(BaseModel):
    """What a filter does to the messages its ``if`` matches."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sample", "drop", "drop_properties", "allow_properties"]
    percent: float | None = Field(default=None, ge=0, le=1, description="sample: share kept")
    path: str = Field(default="messageId", description="sample: the field hashed to decide")
    fields: dict[Literal["properties", "traits", "context"], list[str]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _complete(self) -> FilterAction:
        if self.type == "sample" and self.percent is None:
            raise ValueError("a sample action needs percent (0..1)")
        if self.type in ("drop_properties", "allow_properties") and not self.fields:
            raise ValueError(f"a {self.type} action needs fields, e.g. {{'properties': ['x']}}")
        return self


class DestinationFilter(BaseModel):
    """A destination filter: when ``if`` matches, apply ``actions``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    enabled: bool = True
    if_: Trigger = Field(default_factory=Trigger, alias="if")
    actions: list[FilterAction] = Field(min_length=1)


def _sampled_in(message: dict[str, Any], action: FilterAction) -> bool:
    # Deterministic, so a replay or a retry decides the same way as the first pass.
    key = lookup(message, action.path)
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 < (action.percent or 0.0)


def apply_filters(
    filters: list[DestinationFilter], message: dict[str, Any]
) -> dict[str, Any] | None:
    """Run the filters on a message; ``None`` if dropped, else the (possibly trimmed) copy."""
    active = [f for f in filters if f.enabled and f.if_.test(message)]
    if not active:
        return message
    out = message
    for kind in _ORDER:
        for flt in active:
            for action in flt.actions:
                if action.type != kind:
                    continue
                if kind == "sample" and not _sampled_in(out, action):
                    return None
                if kind == "drop":
                    return None
                if kind in ("drop_properties", "allow_properties"):
                    out = out if out is not message else copy.deepcopy(message)
                    _trim(out, action)
    return out


def _trim(message: dict[str, Any], action: FilterAction) -> None:
    for obj in _OBJECTS:
        names = action.fields.get(obj)  # type: ignore[call-overload]
        target = message.get(obj)
        if names is None or not isinstance(target, dict):
            continue
        if action.type == "drop_properties":
            for name in names:
                target.pop(name, None)
        else:
            for name in list(target):
                if name not in names:
                    del target[name]
