"""The validation stage: cached compiled plans, swapped on change, cheap without plans."""

from __future__ import annotations

import time

from shoal.plans import PlanEvent, PlanProperty, PlanStage
from tests.plans.helpers import ORDER, event, plan

GOOD = {"order_id": "o-1", "total": 10, "anything": 1}


async def test_events_of_unplanned_sources_are_untouched() -> None:
    stage = PlanStage()
    stage.load([plan(sources=("src_a",))])
    other = event(properties={"total": "x"}, source_id="src_b")
    await stage.process([other])
    assert other.violations is None and other.status == "accepted"


async def test_plans_compile_once_and_reload_on_a_new_version() -> None:
    stage = PlanStage()
    first = plan()
    stage.load([first])
    compiled = stage.plan_for("src_a")
    stage.load([first])
    assert stage.plan_for("src_a") is compiled, "same version must reuse the compiled plan"
    loosened = PlanEvent(name=ORDER.name, properties=[PlanProperty(name="total", type="string")])
    stage.load([plan(events=(loosened,), version=2)])
    assert stage.plan_for("src_a") is not compiled
    ev = event(properties={"total": "12.50"})
    await stage.process([ev])
    assert ev.violations is None


async def test_lazy_loader_runs_before_the_first_round() -> None:
    calls = []

    def loader() -> list:  # type: ignore[type-arg]
        calls.append(1)
        return [plan(invalid="block")]

    stage = PlanStage(loader)
    ev = event(properties={"total": "x"})
    await stage.process([ev])
    await stage.process([event(properties=GOOD)])
    assert calls == [1]
    assert ev.status == "rejected"


async def test_large_rounds_are_checked_off_the_loop_and_stay_fast() -> None:
    stage = PlanStage()
    stage.load([plan(sources=("src_a",))])
    events = [event(properties={**GOOD, "total": i if i % 2 else "bad"}) for i in range(5000)]
    events += [event(properties=GOOD, source_id="src_unplanned") for _ in range(5000)]
    started = time.perf_counter()
    await stage.process(events)
    elapsed = time.perf_counter() - started
    flagged = [e for e in events if e.violations]
    assert len(flagged) == 2500
    assert all(e.source_id == "src_a" for e in flagged)
    assert elapsed < 2.0, f"validating 10,000 events took {elapsed:.2f}s"
