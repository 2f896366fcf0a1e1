"""Wires the backends together and runs them: what ``shoal serve`` starts and stops."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from shoal.audiences.members import MembershipStore
from shoal.audiences.service import AudienceService
from shoal.collect.keys import WriteKeys
from shoal.collect.routes import Edge
from shoal.control import ControlPlane, User, Workspace
from shoal.destinations.service import DestinationService
from shoal.identity import IdentityService
from shoal.onboarding import SetupService
from shoal.pipeline import EventHub, Pipeline
from shoal.plans import PlanService
from shoal.queue import Queue, open_queue
from shoal.settings import Settings
from shoal.store import EventStore, open_store
from shoal.store.duckdb import DuckDBStore

log = logging.getLogger("shoal.runtime")


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What was created on an empty data dir, to tell the person who started Shoal."""

    workspace: Workspace
    owner: User
    token: str
    token_from_env: bool


class Runtime:
    """The control plane, queue, store, pipeline and edge of one Shoal server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.control = ControlPlane(settings.resolved_control_url())
        self.queue: Queue = open_queue(
            settings.resolved_queue_url(), synchronous=settings.queue_sync
        )
        self.store: EventStore = open_store(
            settings.resolved_store_url(),
            memory_limit=settings.store_memory_limit,
            threads=settings.store_threads,
            checkpoint_threshold=settings.store_checkpoint_threshold,
        )
        self.hub = EventHub()
        self.keys = WriteKeys(self.control)
        self.pipeline = Pipeline(
            self.queue,
            self.store,
            self.hub,
            batch_size=settings.pipeline_batch_size,
            dedupe_window_hours=settings.dedupe_window_hours,
            linger=settings.pipeline_linger_ms / 1000,
        )
        # Tracking plans check events of planned sources; the guided setup builds on them.
        self.plans = PlanService(self.control)
        self.pipeline.stages.append(self.plans.stage)
        # Destinations read the store after the pipeline wrote it; they never slow ingestion.
        self.destinations = DestinationService(self.control, self.store, self.hub, settings)
        # Identity resolution keeps its tables in the DuckDB event store; it runs after
        # every other stage so it sees their verdicts (rejected events are not resolved).
        self.identity: IdentityService | None = None
        if isinstance(self.store, DuckDBStore):
            self.identity = IdentityService(self.control, self.store)
            self.pipeline.stages.append(self.identity.stage)
        # Audiences are evaluated over the identity tables and re-checked as profiles change.
        self.audiences: AudienceService | None = None
        if self.identity is not None and isinstance(self.store, DuckDBStore):
            self.audiences = AudienceService(
                self.control,
                MembershipStore(self.store),
                self.queue,
                self.identity,
                time_recheck_s=settings.audiences_time_recheck_s,
            )
            self.destinations.activation.attach(self.audiences)
        # The guided setup's Unify and republish steps use identity resolution.
        self.setup = SetupService(
            self.control, self.plans, self.store, self.destinations, self.identity
        )
        self.edge = Edge(
            self.queue,
            self.keys,
            default_rate_limit=settings.default_rate_limit,
            public_url=settings.public_url,
            trusted_proxies=settings.trusted_proxies,
        )
        self.first_start: FirstStart | None = None
        self.stopping = asyncio.Event()
        self.ready = False
        self._pipeline_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Migrate, bootstrap an empty data dir, open the backends, start the pipeline."""
        await asyncio.to_thread(self.control.migrate)
        created = await asyncio.to_thread(self.control.bootstrap, self.settings.admin_token)
        if created is not None:
            workspace, owner, token = created
            self.first_start = FirstStart(
                workspace, owner, token, token_from_env=bool(self.settings.admin_token)
            )
        await asyncio.to_thread(self.keys.reload)
        await self.queue.start()
        await self.store.start()
        if self.identity is not None:
            await self.identity.start()
        if self.audiences is not None:
            await self.audiences.start()
        self._pipeline_task = asyncio.create_task(self.pipeline.run(), name="shoal-pipeline")
        await self.destinations.start()
        self.ready = True

    def begin_shutdown(self) -> None:
        """Tell live streams to end so the server can stop without waiting on them."""
        self.ready = False
        self.stopping.set()
        self.hub.wake_all()

    async def stop(self) -> None:
        """Drain the pipeline's current round, then close everything in order."""
        self.begin_shutdown()
        await self.pipeline.stop()
        if self._pipeline_task is not None:
            await self._pipeline_task
        if self.audiences is not None:
            await self.audiences.stop()
        if self.identity is not None:
            await self.identity.stop()
        await self.destinations.stop()
        await self.store.close()
        await self.queue.close()
        await asyncio.to_thread(self.control.close)
