"""The interface of a pipeline stage (tracking plans, identity, audiences plug in here)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from shoal.spec.normalize import NormalizedEvent


class Stage(Protocol):
    """Works on one round of normalized events, in place, before they are stored.

    A stage may mark an event ``rejected`` (with a ``reason`` code) or attach
    ``violations``; it must never drop one, so the store keeps everything received. A
    stage that raises fails the round, which is then retried from the queue: stages must
    be idempotent for a replayed round.
    """

    name: str

    async def process(self, events: list[NormalizedEvent]) -> Awaitable[None] | None:
        """Inspect or amend ``events``.

        A stage with durable work of its own (identity resolution's write) may return it
        as an awaitable still under way: the pipeline stores the round meanwhile, starts
        the next round's stages, and acknowledges this round only once it completes."""
