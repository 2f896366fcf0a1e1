"""Mappings: which events go to which adapter action, with which fields.

A mapping is Segment's "subscription": an action, a trigger (``conditions.Trigger``, or FQL
text as ``"fql"`` or ``"trigger": "<statement>"``) and
field mappings written as directives, so what is sent can change without code:

* ``{"@path": "$.properties.total"}`` reads a field (add ``"@default": v`` for a fallback);
* ``{"@template": "Hi {{traits.name}}"}`` fills a string;
* ``{"@if": {"exists": <directive>, "then": <value>, "else": <value>}}``;
* ``{"@literal": v}`` is ``v`` as is; plain objects and lists are resolved recursively.

Undefined values are dropped and ``null`` is kept, as in Segment's mapping kit. Fields a
mapping does not set come from the action's defaults. A destination without mappings uses
one mapping per action with the action's default trigger and fields.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shoal.destinations.base import DestinationFactory
from shoal.destinations.filters import Trigger, lookup, missing, with_fql

MAX_MAPPINGS = 50
_TEMPLATE = re.compile(r"{{\s*([^{}\s]+)\s*}}")
_UNDEFINED = object()


class Mapping(BaseModel):
    """One subscription of the destination: action + trigger + field mappings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1)
    enabled: bool = True
    trigger: Trigger = Field(default_factory=Trigger)
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Field -> directive; unset fields use the defaults."
    )

    @model_validator(mode="before")
    @classmethod
    def _fql(cls, data: Any) -> Any:
        return with_fql(data, "trigger")


def resolve(directive: Any, message: dict[str, Any]) -> Any:
    """Evaluate a directive against ``message``; may return the private undefined marker."""
    if isinstance(directive, list):
        items = (resolve(item, message) for item in directive)
        return [item for item in items if item is not _UNDEFINED]
    if not isinstance(directive, dict):
        return directive
    if "@literal" in directive:
        return directive["@literal"]
    if "@path" in directive:
        found = lookup(message, str(directive["@path"]))
        if missing(found):
            return directive.get("@default", _UNDEFINED)
        return found
    if "@template" in directive:
        return _TEMPLATE.sub(lambda m: _text(lookup(message, m.group(1))), directive["@template"])
    if "@if" in directive:
        spec = directive["@if"]
        if not isinstance(spec, dict):
            return _UNDEFINED
        value = resolve(spec.get("exists"), message)
        branch = "then" if value is not _UNDEFINED and value is not None else "else"
        return resolve(spec[branch], message) if branch in spec else _UNDEFINED
    out = {}
    for key, sub in directive.items():
        value = resolve(sub, message)
        if value is not _UNDEFINED:
            out[key] = value
    return out


def _text(value: Any) -> str:
    if missing(value) or value is None:
        return ""
    return str(value)


def check_directive(directive: Any, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` if a directive is malformed."""
    if isinstance(directive, list):
        for i, item in enumerate(directive):
            check_directive(item, f"{where}[{i}]")
        return
    if not isinstance(directive, dict):
        return
    keys = {k for k in directive if k.startswith("@")}
    if "@path" in keys and not isinstance(directive["@path"], str):
        raise ValueError(f"{where}: @path must be a string like '$.properties.total'")
    if "@template" in keys and not isinstance(directive["@template"], str):
        raise ValueError(f"{where}: @template must be a string")
    if "@if" in keys:
        spec = directive["@if"]
        if not isinstance(spec, dict) or "exists" not in spec:
            raise ValueError(f"{where}: @if needs {{'exists': ..., 'then': ..., 'else': ...}}")
    unknown = keys - {"@path", "@default", "@template", "@if", "@literal"}
    if unknown:
        raise ValueError(f"{where}: unknown directive {', '.join(sorted(unknown))}")
    if not keys:
        for key, sub in directive.items():
            check_directive(sub, f"{where}.{key}")


def validate_mappings(factory: DestinationFactory, mappings: list[Mapping]) -> None:
    """Check that every mapping names an action of the adapter and has sound directives."""
    if len(mappings) > MAX_MAPPINGS:
        raise ValueError(f"a destination has at most {MAX_MAPPINGS} mappings")
    names = {a.name for a in factory.actions}
    for mapping in mappings:
        if mapping.action not in names:
            raise ValueError(
                f"mapping {mapping.name!r}: {factory.name} has no action {mapping.action!r} "
                f"(actions: {', '.join(sorted(names))})"
            )
        check_directive(mapping.fields, f"mapping {mapping.name!r}")


def default_mappings(factory: DestinationFactory) -> list[Mapping]:
    """One mapping per action with its default trigger (what a new destination uses)."""
    return [
        Mapping(name=a.title, action=a.name, trigger=Trigger.model_validate(a.trigger))
        for a in factory.actions
    ]


class Mapper:
    """Turns one filtered message into ``(action, payload)`` pairs, in mapping order."""

    def __init__(self, factory: DestinationFactory, mappings: list[Mapping]) -> None:
        self.factory = factory
        active = [m for m in (mappings or default_mappings(factory)) if m.enabled]
        self._plans = [(m, self._merged(m)) for m in active]

    def _merged(self, mapping: Mapping) -> dict[str, Any] | None:
        defaults = self.factory.action(mapping.action).fields
        if defaults is None and not mapping.fields:
            return None
        return {**(defaults or {}), **mapping.fields}

    def map(self, message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The payloads ``message`` produces (empty if it triggers nothing)."""
        out: list[tuple[str, dict[str, Any]]] = []
        if message.get("type") not in self.factory.capabilities.event_types:
            return out
        for mapping, fields in self._plans:
            if not mapping.trigger.test(message):
                continue
            payload = message if fields is None else resolve(fields, message)
            out.append((mapping.action, payload))
        return out
