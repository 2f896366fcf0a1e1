"""Checking events against a compiled plan: flag, block, allow; never drop."""

from __future__ import annotations

import pytest

from shoal.plans import REASON_INVALID, REASON_UNPLANNED, CompiledPlan
from tests.plans.helpers import event, plan

GOOD = {"order_id": "o-1", "total": 10, "anything": [1, "x"]}


def test_valid_event_gets_no_violations() -> None:
    ev = event(properties=GOOD)
    CompiledPlan(plan()).check(ev)
    assert ev.status == "accepted"
    assert ev.violations is None


def test_wrong_type_is_flagged_with_property_and_expectation() -> None:
    ev = event(properties={**GOOD, "total": "12.50"})
    CompiledPlan(plan()).check(ev)
    assert ev.status == "accepted"
    assert ev.violations is not None
    (v,) = ev.violations
    assert v["type"] == "invalid_type"
    assert v["field"] == "properties.total"
    assert v["property"] == "total"
    assert v["expected"] == "number"
    assert v["actual"] == "string"
    assert v["event"] == "Order Completed"
    assert v["plan_id"] == "tp_1" and v["plan_version"] == 1
    assert "'total' should be a number" in v["message"]


def test_missing_required_property_and_absent_properties_object() -> None:
    ev = event(properties=None)
    CompiledPlan(plan()).check(ev)
    assert ev.violations is not None
    missing = sorted(v["property"] for v in ev.violations if v["type"] == "missing_property")
    assert missing == ["anything", "order_id", "total"]


@pytest.mark.parametrize(
    ("prop", "value", "kind"),
    [
        ("quantity", 1.5, "invalid_type"),
        ("quantity", True, "invalid_type"),
        ("placed_at", "yesterday", "invalid_format"),
        ("products", {"a": 1}, "invalid_type"),
    ],
)
def test_each_type_is_checked(prop: str, value: object, kind: str) -> None:
    ev = event(properties={**GOOD, prop: value})
    CompiledPlan(plan()).check(ev)
    assert ev.violations is not None
    assert [(v["type"], v["property"]) for v in ev.violations] == [(kind, prop)]


def test_integers_are_numbers_and_dates_pass() -> None:
    props = {**GOOD, "total": 3, "quantity": 2, "placed_at": "2024-05-01T10:00:00Z"}
    ev = event(properties=props)
    CompiledPlan(plan()).check(ev)
    assert ev.violations is None


def test_block_invalid_keeps_the_event_rejected_with_reason() -> None:
    ev = event(properties={**GOOD, "total": "x"})
    CompiledPlan(plan(invalid="block")).check(ev)
    assert ev.status == "rejected"
    assert ev.reason == REASON_INVALID
    assert ev.violations and ev.violations[0]["property"] == "total"


def test_allow_invalid_records_nothing() -> None:
    ev = event(properties={"total": "x"})
    CompiledPlan(plan(invalid="allow")).check(ev)
    assert ev.status == "accepted" and ev.violations is None


@pytest.mark.parametrize(
    ("policy", "status", "flagged"),
    [("allow", "accepted", False), ("flag", "accepted", True), ("block", "rejected", True)],
)
def test_unplanned_event_policies(policy: str, status: str, flagged: bool) -> None:
    ev = event(name="Wishlist Viewed", properties={})
    CompiledPlan(plan(unplanned=policy)).check(ev)
    assert ev.status == status
    assert bool(ev.violations) is flagged
    if flagged:
        assert ev.violations is not None
        assert ev.violations[0]["type"] == "unplanned_event"
        assert ev.violations[0]["event"] == "Wishlist Viewed"
    if policy == "block":
        assert ev.reason == REASON_UNPLANNED


def test_page_calls_are_checked_against_the_page_entry_whatever_their_name() -> None:
    ok = event("page", "Home", {"page_name": "Home"})
    bad = event("page", "Pricing", {"page_name": 3})
    compiled = CompiledPlan(plan())
    compiled.check(ok)
    compiled.check(bad)
    assert ok.violations is None
    assert bad.violations is not None and bad.violations[0]["event"] == "Page Viewed"


def test_calls_the_plan_does_not_cover_pass_untouched() -> None:
    compiled = CompiledPlan(plan(unplanned="block"))
    screen = event("screen", "Home", {})
    identify = event("identify", None, None)
    already = event(properties={"total": "x"}, status="rejected")
    for ev in (screen, identify, already):
        compiled.check(ev)
    assert screen.status == identify.status == "accepted"
    assert screen.violations is identify.violations is already.violations is None
    assert already.reason == "no_user_anon_id"


def test_earlier_violations_of_other_stages_are_kept() -> None:
    ev = event(properties={**GOOD, "total": "x"})
    ev.violations = [{"type": "other", "field": "x", "message": "from another stage"}]
    CompiledPlan(plan()).check(ev)
    assert ev.violations is not None
    assert [v["type"] for v in ev.violations] == ["other", "invalid_type"]
