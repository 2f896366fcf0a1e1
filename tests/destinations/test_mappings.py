"""Mapping directives and how mappings pick actions."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.destinations.mappings import Mapper, Mapping, check_directive, resolve, validate_mappings
from shoal.destinations.registry import get_factory

MESSAGE: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u1",
    "properties": {"total": 42.5, "currency": None, "items": [{"sku": "A"}]},
    "traits": {"name": "Ada"},
}


def test_directives() -> None:
    fields = {
        "user": {"@path": "$.userId"},
        "total": {"@path": "$.properties.total"},
        "currency": {"@path": "$.properties.currency"},  # null is kept
        "missing": {"@path": "$.properties.nope"},  # undefined is dropped
        "fallback": {"@path": "$.properties.nope", "@default": "USD"},
        "greeting": {"@template": "Hi {{traits.name}}, {{ event }}!{{nope}}"},
        "first_sku": {"@path": "$.properties.items.0.sku"},
        "has_total": {"@if": {"exists": {"@path": "$.properties.total"}, "then": 1, "else": 0}},
        "lit": {"@literal": {"@path": "not evaluated"}},
        "nested": {"a": [{"@path": "$.userId"}, {"@path": "$.nope"}, 3]},
    }
    assert resolve(fields, MESSAGE) == {
        "user": "u1",
        "total": 42.5,
        "currency": None,
        "fallback": "USD",
        "greeting": "Hi Ada, Order Completed!",
        "first_sku": "A",
        "has_total": 1,
        "lit": {"@path": "not evaluated"},
        "nested": {"a": ["u1", 3]},
    }


@pytest.mark.parametrize(
    "bad",
    [{"@path": 3}, {"@if": {"then": 1}}, {"@bogus": 1}, {"x": {"@template": ["no"]}}],
)
def test_malformed_directives_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        check_directive(bad, "field")


def test_default_mapping_and_custom_fields() -> None:
    factory = get_factory("webhook")
    assert Mapper(factory, []).map(MESSAGE) == [("send", MESSAGE)]
    custom = Mapping(
        name="orders only",
        action="send",
        trigger={"conditions": [{"field": "event", "value": "Order Completed"}]},  # type: ignore[arg-type]
        fields={"who": {"@path": "$.userId"}, "amount": {"@path": "$.properties.total"}},
    )
    mapper = Mapper(factory, [custom])
    assert mapper.map(MESSAGE) == [("send", {"who": "u1", "amount": 42.5})]
    assert mapper.map({**MESSAGE, "event": "Other"}) == []


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="no action 'nope'"):
        validate_mappings(get_factory("webhook"), [Mapping(name="x", action="nope")])
