"""Replays: re-send dead letters, or every stored event of a time range, to a destination.

A replay is a durable job (``destination_replays``) with a position, so a restart resumes
it. Replayed events go through the destination's current filters and mappings (the cause
of the failure may have been a mapping) and through the same retry and dead-letter path as
live delivery; they bypass the delivered-ledger, because re-sending is the point.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shoal.destinations.delivery import Deliverer, Stopped, batches
from shoal.destinations.ledger import Ledger
from shoal.destinations.reader import EventReader, Row
from shoal.destinations.worker import Plan

log = logging.getLogger("shoal.destinations")
CHUNK = 1000


async def run_replay(
    job: dict[str, Any],
    source_ids: tuple[str, ...],
    plan: Plan,
    deliverer: Deliverer,
    reader: EventReader,
    ledger: Ledger,
) -> None:
    """Run one replay job to the end (or until the destination stops)."""
    position, sent, failed = int(job["position"]), int(job["sent"]), int(job["failed"])
    params = job["params"]
    await asyncio.to_thread(ledger.replay_progress, job["id"], position, sent, failed, "running")
    try:
        while True:
            rows, end = await _next(job["kind"], params, position, source_ids, reader)
            if end is None:
                break
            for items in batches([i for row in rows for i in plan.items(row)], plan.max_batch):
                delivered = await deliverer.deliver(items)
                sent += delivered
                failed += len(items) - delivered
            position = end
            await asyncio.to_thread(
                ledger.replay_progress, job["id"], position, sent, failed, "running"
            )
    except Stopped:
        return
    await asyncio.to_thread(ledger.replay_progress, job["id"], position, sent, failed, "done")
    log.info("replay %s done: %d sent, %d failed", job["id"], sent, failed)


async def _next(
    kind: str,
    params: dict[str, Any],
    position: int,
    source_ids: tuple[str, ...],
    reader: EventReader,
) -> tuple[list[Row], int | None]:
    """The next chunk and the position after it (``None``: the replay is complete)."""
    if kind == "dead_letters":
        ids = [int(i) for i in params["event_ids"] if int(i) > position][:CHUNK]
        # An id the store no longer has (retention) is skipped, not retried forever.
        return (await reader.by_ids(ids), ids[-1]) if ids else ([], None)
    if not source_ids:
        return [], None
    rows = await reader.in_range(
        position, int(params["from_ms"]), int(params["to_ms"]), source_ids, CHUNK
    )
    return rows, (rows[-1].id if rows else None)
