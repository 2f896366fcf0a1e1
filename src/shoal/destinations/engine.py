"""Runs one supervised worker per enabled destination, plus its replays.

Every destination gets its own asyncio task, client and in-flight limit, so a slow or
failing vendor only ever holds its own cursor. Ingestion never waits on delivery: the
pipeline writes to the store and wakes workers through the hub; workers read the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.destinations.base import Context, DestinationClient, DestinationFactory
from shoal.destinations.delivery import Deliverer, RetryPolicy
from shoal.destinations.filters import DestinationFilter
from shoal.destinations.http import HttpClient
from shoal.destinations.ledger import Ledger
from shoal.destinations.mappings import Mapper, Mapping
from shoal.destinations.metrics import Metrics
from shoal.destinations.reader import EventReader
from shoal.destinations.registry import get_factory
from shoal.destinations.replay import run_replay
from shoal.destinations.repo import Destination, DestinationRepo
from shoal.destinations.worker import Plan, StreamWorker
from shoal.pipeline import EventHub

log = logging.getLogger("shoal.destinations")
RESTART_DELAY = 5.0


@dataclass
class Running:
    """A destination's live worker."""

    destination: Destination
    stopping: asyncio.Event
    task: asyncio.Task[None] | None = None
    deliverer: Deliverer | None = None
    plan: Plan | None = None
    replays: set[asyncio.Task[None]] = field(default_factory=set)


def build_plan(factory: DestinationFactory, destination: Destination) -> Plan:
    """Filters, mappings and batch size of a destination."""
    filters = [DestinationFilter.model_validate(f) for f in destination.filters]
    mappings = [Mapping.model_validate(m) for m in destination.mappings]
    size = factory.capabilities.max_batch_size if factory.capabilities.batching else 1
    # Adapters may expose ``batch`` (on/off) and ``batch_size`` settings; both narrow it.
    if destination.settings.get("batch") is False:
        size = 1
    batch = destination.settings.get("batch_size")
    if isinstance(batch, int) and batch > 0:
        size = min(size, batch)
    return Plan(filters, Mapper(factory, mappings), max(1, size))


class DeliveryEngine:
    """Starts, restarts and stops destination workers."""

    def __init__(
        self,
        repo: DestinationRepo,
        ledger: Ledger,
        reader: EventReader,
        hub: EventHub,
        http: HttpClient,
        data_dir: Path,
        retry: RetryPolicy,
        poll: float,
        settings_of: Any,
    ) -> None:
        self.repo, self.ledger, self.reader, self.hub = repo, ledger, reader, hub
        self.context = Context(http, data_dir)
        self.retry = retry
        self.poll = poll
        self._settings_of = settings_of
        self.metrics: dict[str, Metrics] = {}
        self.running: dict[str, Running] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start a worker for every enabled destination."""
        for destination in await asyncio.to_thread(self.repo.list_all, None):
            if destination.enabled:
                self._launch(destination)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop every worker (in-flight requests get ``grace`` seconds)."""
        await asyncio.gather(*(self._halt(i, grace) for i in list(self.running)))

    async def reload(self, destination_id: str) -> None:
        """Apply a configuration change: restart (or stop) the destination's worker."""
        async with self._lock:
            await self._halt(destination_id)
            try:
                destination = await asyncio.to_thread(self.repo.get, None, destination_id)
            except LookupError:
                self.metrics.pop(destination_id, None)
                return
            if destination.enabled:
                self._launch(destination)

    def _launch(self, destination: Destination) -> None:
        run = Running(destination, asyncio.Event())
        self.running[destination.id] = run
        run.task = asyncio.create_task(self._supervise(run), name=f"destination-{destination.id}")

    async def _halt(self, destination_id: str, grace: float = 5.0) -> None:
        run = self.running.pop(destination_id, None)
        if run is None or run.task is None:
            return
        run.stopping.set()
        tasks = [run.task, *run.replays]
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _supervise(self, run: Running) -> None:
        destination = run.destination
        metrics = self.metrics.setdefault(destination.id, Metrics())
        while not run.stopping.is_set():
            client: DestinationClient | None = None
            try:
                factory = get_factory(destination.type)
                client = await factory.create(self._settings_of(destination), self.context)
                run.plan = build_plan(factory, destination)
                run.deliverer = Deliverer(
                    destination.id,
                    client,
                    self.ledger,
                    metrics,
                    self.retry,
                    run.stopping,
                    destination.max_in_flight,
                )
                for job in await asyncio.to_thread(self.ledger.replays, destination.id, True):
                    self.start_replay(destination.id, job)
                worker = StreamWorker(
                    destination.id,
                    destination.source_ids,
                    run.plan,
                    run.deliverer,
                    self.reader,
                    self.ledger,
                    self.hub,
                    lanes=destination.max_in_flight,
                    poll=self.poll,
                )
                await worker.run()
            except Exception as exc:
                log.exception("destination %s worker failed; restarting", destination.id)
                metrics.error(f"worker error: {exc!r}", None)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.stopping.wait(), RESTART_DELAY)
            finally:
                # Replays share this client: end them before it closes (they resume later).
                for task in list(run.replays):
                    task.cancel()
                if run.replays:
                    await asyncio.gather(*run.replays, return_exceptions=True)
                if client is not None:
                    await client.close()

    def start_replay(self, destination_id: str, job: dict[str, Any]) -> bool:
        """Run a replay job now if the destination is running (else at its next start)."""
        run = self.running.get(destination_id)
        if run is None or run.deliverer is None or run.plan is None:
            return False
        if any(task.get_name() == f"replay-{job['id']}" for task in run.replays):
            return True
        task = asyncio.create_task(
            run_replay(
                job,
                run.destination.source_ids,
                run.plan,
                run.deliverer,
                self.reader,
                self.ledger,
            ),
            name=f"replay-{job['id']}",
        )
        run.replays.add(task)
        task.add_done_callback(run.replays.discard)
        return True
