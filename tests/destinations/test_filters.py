"""Destination filters and triggers: Segment's order and null-tolerant conditions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shoal.destinations.filters import Condition, DestinationFilter, Trigger, apply_filters


def _msg(**extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "messageId": "m1",
        "properties": {"total": 30, "coupon": "X", "email": "a@b.c"},
        "context": {"ip": "1.2.3.4", "app": {"version": "2.1"}},
        **extra,
    }


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "type", "op": "is", "value": "track"}, True),
        ({"field": "event", "op": "starts_with", "value": "Order"}, True),
        ({"field": "event", "op": "ends_with", "value": "Viewed"}, False),
        ({"field": "properties.total", "op": "gt", "value": 20}, True),
        ({"field": "properties.total", "op": "lte", "value": 20}, False),
        ({"field": "properties.missing", "op": "exists"}, False),
        ({"field": "properties.missing", "op": "is_not", "value": 1}, True),
        ({"field": "properties.missing", "op": "gt", "value": 1}, False),
        ({"field": "context.app.version", "op": "in", "value": ["2.0", "2.1"]}, True),
        ({"field": "properties.coupon", "op": "contains", "value": "Y"}, False),
    ],
)
def test_conditions(condition: dict[str, Any], expected: bool) -> None:
    assert Condition.model_validate(condition).test(_msg()) is expected


def test_any_and_all() -> None:
    yes = {"field": "type", "value": "track"}
    no = {"field": "type", "value": "page"}
    assert Trigger.model_validate({"match": "any", "conditions": [yes, no]}).test(_msg())
    assert not Trigger.model_validate({"match": "all", "conditions": [yes, no]}).test(_msg())


def test_drop_sample_and_property_filters_in_segment_order() -> None:
    filters = [
        DestinationFilter.model_validate(
            {
                "title": "only some properties",
                "if": {"conditions": [{"field": "type", "value": "track"}]},
                "actions": [
                    {"type": "allow_properties", "fields": {"properties": ["total", "email"]}},
                    {"type": "drop_properties", "fields": {"properties": ["email"]}},
                ],
            }
        )
    ]
    message = _msg()
    out = apply_filters(filters, message)
    assert out is not None and out["properties"] == {"total": 30}
    assert message["properties"]["email"] == "a@b.c"  # the stored message is untouched
    drop = DestinationFilter.model_validate(
        {
            "title": "no pages",
            "if": {"conditions": [{"field": "type", "value": "page"}]},
            "actions": [{"type": "drop"}],
        }
    )
    assert apply_filters([drop], _msg(type="page")) is None
    assert apply_filters([drop], _msg()) is not None


def test_sampling_is_deterministic_and_close_to_percent() -> None:
    sample = DestinationFilter.model_validate(
        {"title": "10%", "actions": [{"type": "sample", "percent": 0.1}]}
    )
    kept = [i for i in range(5000) if apply_filters([sample], _msg(messageId=f"m{i}"))]
    assert 400 < len(kept) < 600
    assert kept == [i for i in range(5000) if apply_filters([sample], _msg(messageId=f"m{i}"))]


def test_incomplete_actions_are_refused() -> None:
    with pytest.raises(ValidationError, match="percent"):
        DestinationFilter.model_validate({"title": "t", "actions": [{"type": "sample"}]})
    with pytest.raises(ValidationError, match="fields"):
        DestinationFilter.model_validate({"title": "t", "actions": [{"type": "drop_properties"}]})
