"""Destination filters in Segment's order.

A destination filter has a condition tree (``if``, see ``conditions``; FQL text is
accepted as ``"fql"`` or as ``"if": "<statement>"``) and actions; across all enabled
filters, actions run in Segment's order: sample, then drop, then drop properties, then
allow properties.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shoal.destinations.conditions import Condition, Not, Trigger
from shoal.destinations.fql import parse
from shoal.destinations.paths import lookup, missing

_ORDER = ("sample", "drop", "drop_properties", "allow_properties")
_OBJECTS = ("properties", "traits", "context")
__all__ = [
    "Condition",
    "DestinationFilter",
    "FilterAction",
    "Not",
    "Trigger",
    "apply_filters",
    "lookup",
    "missing",
    "with_fql",
]


def with_fql(data: Any, tree_key: str) -> Any:
    """Accept ``"fql": "<statement>"`` in place of the tree under ``tree_key``.

    Both may be given when they agree (a client sending back what the API showed it).
    """
    if not isinstance(data, dict) or "fql" not in data:
        return data
    data = dict(data)
    text = data.pop("fql")
    if text is None:
        return data  # the API shows null for trees FQL cannot write
    if not isinstance(text, str):
        raise ValueError("fql must be a string")
    tree = parse(text)
    if tree_key in data:
        try:
            given = Trigger.model_validate(data[tree_key])
        except ValidationError as exc:
            raise ValueError(f"{tree_key!r} is not a condition tree: {exc}") from None
        if given != tree:
            raise ValueError(f"{tree_key!r} and 'fql' describe different conditions; send one")
    data[tree_key] = tree
    return data


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

    @model_validator(mode="before")
    @classmethod
    def _fql(cls, data: Any) -> Any:
        return with_fql(data, "if")


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
