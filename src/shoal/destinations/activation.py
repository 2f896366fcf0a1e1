"""Audience activation: keep a vendor-side list (a Meta Custom Audience, …) in step with an
audience, never losing a change.

An audience of users is connected to a destination whose adapter declares
``capabilities.list_sync``, naming the vendor's list. Each connection gets its own task
(``activation_sync`` does the work), so a failing vendor only holds its own lists. A task
wakes when the audience engine records changes of its audience, and polls otherwise; a
supervisor starts tasks for new connections and restarts them when the destination's
settings change, or stops them when it is disabled or deleted (its cursor waits, and the
list catches up when it is enabled again). Event destinations need none of this: they
receive Audience Entered/Exited through the space's "Audiences" source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel

from shoal.audiences.model import USERS
from shoal.audiences.repo import Audience
from shoal.audiences.service import AudienceService
from shoal.control import User
from shoal.control.repo import NotFound
from shoal.destinations import configuration
from shoal.destinations.activation_repo import ActivationRepo, Connection
from shoal.destinations.activation_sync import ListSender, Target, replay_step, sync_step
from shoal.destinations.base import Context, DestinationClient, ListSyncClient
from shoal.destinations.delivery import RetryPolicy, Stopped
from shoal.destinations.registry import get_factory
from shoal.destinations.repo import Destination, DestinationRepo
from shoal.identity.stage import space_of

log = logging.getLogger("shoal.destinations.activation")
RESTART_DELAY = 5.0
RECONCILE_S = 5.0
"""How often connections are compared with their destinations (settings, enabled)."""
PENDING_CAP = 10_000
"""Pending changes are counted up to this many (the status says when there are more)."""


class Unavailable(RuntimeError):
    """Activation needs audiences, which need the DuckDB event store (the API answers 503)."""


@dataclass
class _Running:
    target: Target
    destination: Destination
    fingerprint: tuple[Any, ...]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Activation:
    """Connections of audiences to list-sync destinations, and the tasks syncing them."""

    def __init__(
        self,
        repo: ActivationRepo,
        destinations: DestinationRepo,
        settings_of: Callable[[Destination], BaseModel],
        context: Context,
        policy: RetryPolicy,
        poll: float,
    ) -> None:
        self.repo, self.destinations, self.settings_of = repo, destinations, settings_of
        self.context, self.policy, self.poll = context, policy, poll
        self.audiences: AudienceService | None = None
        self.running: dict[tuple[str, str], _Running] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def attach(self, audiences: AudienceService) -> None:
        """Sync the audiences of this service, woken by its engine's changes."""
        self.audiences = audiences
        audiences.engine.listeners.append(self.audience_changed)

    def audience_changed(
        self, audience: Audience, entered: Sequence[int], exited: Sequence[int]
    ) -> None:
        """The audience engine's listener: wake the syncs of an audience that changed."""
        del entered, exited
        for key, run in self.running.items():
            if key[0] == audience.id:
                run.wake.set()

    async def start(self) -> None:
        """Start syncing every connection (nothing without audiences)."""
        if self.audiences is not None:
            self._task = asyncio.create_task(self._supervise(), name="shoal-activation")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop every sync; a request in flight gets ``grace`` seconds to finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(self._halt(key, grace) for key in list(self.running)))

    # -- supervision ---------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            self._changed.clear()
            try:
                await self._reconcile()
            except Exception:
                log.exception("activation: reading the connections failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), RECONCILE_S)

    async def _reconcile(self) -> None:
        wanted = await asyncio.to_thread(self._wanted)
        for key, run in list(self.running.items()):
            found = wanted.get(key)
            if found is None or found.fingerprint != run.fingerprint:
                await self._halt(key)
        for key, run in wanted.items():
            if key not in self.running:
                self.running[key] = run
                run.task = asyncio.create_task(self._run(run), name=f"activation-{key}")

    def _wanted(self) -> dict[tuple[str, str], _Running]:
        """A fresh ``_Running`` per connection whose destination is enabled."""
        assert self.audiences is not None
        audiences = {a.id: a for a in self.audiences.repo.all()}
        destinations = {d.id: d for d in self.destinations.list_all(None)}
        out: dict[tuple[str, str], _Running] = {}
        for c in self.repo.all():
            audience, destination = audiences.get(c.audience_id), destinations.get(c.destination_id)
            if audience is None or destination is None or not destination.enabled:
                continue
            target = Target(
                c.key, space_of(audience.workspace_id, audience.environment), audience.key,
                int(audience.created_at.timestamp() * 1000), c.list_id,
            )  # fmt: skip
            fingerprint = (c.list_id, destination.updated_at, audience.key)
            out[c.key] = _Running(target, destination, fingerprint)
        return out

    async def _halt(self, key: tuple[str, str], grace: float = 5.0) -> None:
        run = self.running.pop(key, None)
        if run is None or run.task is None:
            return
        run.stopping.set()
        _, pending = await asyncio.wait([run.task], timeout=grace)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, run: _Running) -> None:
        """Sync one connection until it stops; restart after an unexpected error."""
        assert self.audiences is not None
        members = self.audiences.members
        while not run.stopping.is_set():
            client: DestinationClient | None = None
            try:
                factory = get_factory(run.destination.type)
                client = await factory.create(self.settings_of(run.destination), self.context)
                if not factory.capabilities.list_sync or not hasattr(client, "sync_list"):
                    raise TypeError(f"{factory.name} does not sync lists")
                sender = ListSender(
                    run.target, cast(ListSyncClient, client), self.repo, members, self.policy,
                    run.stopping,
                )  # fmt: skip
                while not run.stopping.is_set():
                    run.wake.clear()
                    replayed = await replay_step(sender)
                    if not await sync_step(sender) and not replayed:
                        await self._idle(run)
            except (Stopped, NotFound):
                return  # stopping, or disconnected (the supervisor forgets it)
            except Exception as exc:
                log.exception("activation %s failed; restarting", run.target.key)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(
                        self.repo.record_error, run.target.key, f"sync error: {exc!r}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.stopping.wait(), RESTART_DELAY)
            finally:
                if client is not None:
                    await client.close()

    async def _idle(self, run: _Running) -> None:
        waiters = [
            asyncio.ensure_future(run.wake.wait()),
            asyncio.ensure_future(run.stopping.wait()),
        ]
        _, pending = await asyncio.wait(waiters, timeout=self.poll, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()

    # -- the API's operations -----------------------------------------------------------

    def _service(self) -> AudienceService:
        if self.audiences is None:
            raise Unavailable(
                "audience activation needs audiences, which need the DuckDB event store"
            )
        return self.audiences

    async def connect(
        self, user: User, audience_ref: str, destination_id: str, list_id: str
    ) -> dict[str, Any]:
        """Connect an audience of users to a list-sync destination of the same space."""
        audience = self._service().get(user, audience_ref)
        destination = await asyncio.to_thread(
            self.destinations.get, user.workspace_id, destination_id
        )
        factory = configuration.factory(destination.type)
        if not factory.capabilities.list_sync:
            raise ValueError(
                f"destination {destination.id} ({factory.title}) does not sync lists: only "
                "destinations whose type declares list sync (e.g. meta_conversions) can keep a "
                "list in step with an audience. Event destinations receive Audience Entered/"
                "Exited events: connect the space's 'Audiences' source to them instead"
            )
        if destination.environment != audience.environment:
            raise ValueError(
                f"audience {audience.key} is a {audience.environment} audience and destination "
                f"{destination.id} a {destination.environment} destination; connect audiences "
                "and destinations of the same environment"
            )
        if audience.collection != USERS:
            raise ValueError(
                f"audience {audience.key} is an audience of {audience.collection}; list syncs "
                "match people, so connect an audience of users"
            )
        connection = await asyncio.to_thread(self.repo.create, audience.id, destination.id, list_id)
        self._changed.set()
        return await self._status(connection, audience, destination)

    async def connections(self, user: User, audience_ref: str) -> list[dict[str, Any]]:
        """The audience's connections with their sync status."""
        audience = self._service().get(user, audience_ref)
        out = []
        for connection in await asyncio.to_thread(self.repo.all, audience.id):
            destination = await asyncio.to_thread(
                self.destinations.get, None, connection.destination_id
            )
            out.append(await self._status(connection, audience, destination))
        return out

    async def disconnect(self, user: User, audience_ref: str, destination_id: str) -> None:
        """Stop syncing; the vendor-side list keeps its members."""
        audience = self._service().get(user, audience_ref)
        # Deleted first, so the supervisor cannot start the sync again meanwhile.
        await asyncio.to_thread(self.repo.delete, audience.id, destination_id)
        await self._halt((audience.id, destination_id))
        self._changed.set()

    async def dead_letters(
        self, user: User, audience_ref: str, destination_id: str
    ) -> list[dict[str, Any]]:
        """The connection's dead letters, newest first."""
        audience = self._service().get(user, audience_ref)
        key = (await asyncio.to_thread(self.repo.get, audience.id, destination_id)).key
        return await asyncio.to_thread(self.repo.dead_letters, key, False)

    async def replay(self, user: User, audience_ref: str, destination_id: str) -> dict[str, Any]:
        """Re-send the current membership of every dead-lettered profile."""
        audience = self._service().get(user, audience_ref)
        key = (await asyncio.to_thread(self.repo.get, audience.id, destination_id)).key
        count = await asyncio.to_thread(self.repo.request_replay, key)
        if not count:
            raise ValueError("there are no dead letters to replay")
        run = self.running.get(key)
        if run is not None:
            run.wake.set()
        return {"audience_id": audience.id, "destination_id": destination_id, "replaying": count}

    async def _status(
        self, c: Connection, audience: Audience, destination: Destination
    ) -> dict[str, Any]:
        members = self._service().members
        space = space_of(audience.workspace_id, audience.environment)
        pending = len(await members.changes_after(space, audience.key, c.cursor, PENDING_CAP + 1))
        return {
            "audience_id": c.audience_id, "destination_id": c.destination_id,
            "destination_name": destination.name, "destination_type": destination.type,
            "list_id": c.list_id, "created_at": c.created_at, "cursor": c.cursor,
            "pending_changes": min(pending, PENDING_CAP), "pending_more": pending > PENDING_CAP,
            "added": c.added, "removed": c.removed, "last_synced_at": c.last_synced_at,
            "last_error": c.last_error, "last_error_at": c.last_error_at,
            "dead_letters": await asyncio.to_thread(self.repo.pending_dead_letters, c.key),
            "syncing": c.key in self.running and destination.enabled,
        }  # fmt: skip
