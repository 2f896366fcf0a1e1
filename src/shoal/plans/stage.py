"""The pipeline stage that holds every event of a planned source against its plan.

Plans are compiled once and cached by source id; the cache is swapped whole when a plan
or a source changes (``load``). An event of a source without a plan costs one dict lookup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from shoal.plans.model import TrackingPlan
from shoal.plans.validate import CompiledPlan
from shoal.spec.normalize import NormalizedEvent

log = logging.getLogger("shoal.plans")
_INLINE_LIMIT = 200
"""Rounds with more planned events than this are checked off the event loop."""


class PlanStage:
    """Validates events of sources that follow a tracking plan (see ``shoal.plans``)."""

    name = "tracking-plans"

    def __init__(self, loader: Callable[[], list[TrackingPlan]] | None = None) -> None:
        self._loader = loader
        self._by_source: dict[str, CompiledPlan] = {}
        self._compiled: dict[tuple[str, int], CompiledPlan] = {}
        self._loaded = loader is None

    def load(self, plans: Iterable[TrackingPlan]) -> None:
        """Replace the cache with these plans (compiling only new plan versions).

        Args:
            plans: Every plan that checks at least one source.
        """
        compiled: dict[tuple[str, int], CompiledPlan] = {}
        by_source: dict[str, CompiledPlan] = {}
        for plan in plans:
            key = (plan.id, plan.version)
            ready = self._compiled.get(key) or CompiledPlan(plan)
            compiled[key] = ready
            for source_id in plan.source_ids:
                by_source[source_id] = ready
        self._compiled = compiled
        self._by_source = by_source
        self._loaded = True

    def reload(self) -> None:
        """Load the plans again from the loader given at construction."""
        if self._loader is not None:
            self.load(self._loader())

    def plan_for(self, source_id: str) -> CompiledPlan | None:
        """The compiled plan a source follows, if any."""
        return self._by_source.get(source_id)

    async def process(self, events: list[NormalizedEvent]) -> None:
        """Flag or block the round's events that break their source's plan."""
        if not self._loaded:
            await asyncio.to_thread(self.reload)
        by_source = self._by_source
        if not by_source:
            return
        todo = [(e, plan) for e in events if (plan := by_source.get(e.source_id)) is not None]
        if not todo:
            return
        if len(todo) > _INLINE_LIMIT:
            await asyncio.to_thread(_check_all, todo)
        else:
            _check_all(todo)


def _check_all(todo: list[tuple[NormalizedEvent, CompiledPlan]]) -> None:
    for event, plan in todo:
        plan.check(event)
