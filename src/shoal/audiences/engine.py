"""Keeping audiences current: real-time re-checks, scheduled refreshes, recorded changes.

* **Real time.** Identity resolution tells the engine which profiles a round touched; after
  a short debounce, every real-time audience of that space is re-evaluated for just those
  profiles (and, for account conditions, the profiles linked to them) in one statement per
  dependency level (``realtime``, ``combined``), so an audience built on another sees its
  fresh membership within the same pass. A pass takes every profile touched since the one
  before, so under load latency is about one pass, never a queue of them.
* **Schedule.** A one-second tick refreshes, one at a time, every audience that is due: never
  computed, a scheduled audience past its interval, or a real-time audience whose result can
  change with the passing of time alone (re-checked every ``time_recheck_s``).
* **Changes.** Entered/exited profiles are recorded with the definition version, a size
  point is added, and (for users and accounts) ``Audience Entered``/``Audience Exited`` track
  calls and an identify/group call setting the boolean trait named after the audience go
  into the pipeline like any received event, from the space's "Audiences" source.

A refresh computes its changes on a reader cursor and applies them in one short write, so
ingestion never waits for an audience query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.audiences import model
from shoal.audiences.compiler import compile_changes
from shoal.audiences.embedded import EmbeddedSchema, embedded_schema
from shoal.audiences.emit import Emitter
from shoal.audiences.members import MembershipStore
from shoal.audiences.realtime import RealtimePasses
from shoal.audiences.repo import Audience, AudienceRepo
from shoal.identity.stage import space_of

log = logging.getLogger("shoal.audiences")
_RETRY_AFTER_ERROR_S = 60.0


def now_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Outcome:
    """What one refresh did."""

    entered: int
    exited: int
    size: int
    full: bool
    seconds: float


def space_for(audience: Audience) -> str:
    """The identity space an audience is evaluated in."""
    return space_of(audience.workspace_id, audience.environment)


def ordered(audiences: list[Audience]) -> list[Audience]:
    """Audiences with those they depend on first (definitions without cycles)."""
    by_key = {(a.workspace_id, a.environment, a.key): a for a in audiences}
    done: dict[str, Audience] = {}

    def visit(a: Audience, depth: int) -> None:
        if a.id in done or depth > len(audiences):
            return
        for ref in model.references(model.from_json(a.definition)):
            dep = by_key.get((a.workspace_id, a.environment, ref))
            if dep is not None:
                visit(dep, depth + 1)
        done[a.id] = a

    for a in audiences:
        visit(a, 0)
    return list(done.values())


class AudienceEngine:
    """Runs refreshes; see the module docstring."""

    def __init__(
        self,
        repo: AudienceRepo,
        members: MembershipStore,
        emitter: Emitter,
        *,
        time_recheck_s: float = 300.0,
        debounce_s: float = 0.05,
        tick_s: float = 1.0,
    ) -> None:
        self.repo = repo
        self.members = members
        self.emitter = emitter
        self.time_recheck_s = time_recheck_s
        self.tick_s = tick_s
        self.realtime = RealtimePasses(self, debounce_s)
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed_at: dict[str, float] = {}
        self._last_full: dict[str, float] = {}
        self._objects: dict[tuple[str, str], dict[str, str]] = {}
        self._cache: list[Audience] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.materialized: Callable[[str], frozenset[str]] = lambda space: frozenset()
        """A space's event paths whose values are materialized (set by the service)."""
        self.listeners: list[Callable[[Audience, Sequence[int], Sequence[int]], None]] = []
        """Told ``(audience, entered, exited)`` after a refresh applied changes (list syncs
        wake on it)."""

    async def start(self) -> None:
        """Create the tables and start the real-time and schedule loops."""
        await self.members.start()
        self._tasks = [
            asyncio.create_task(self.realtime.run(), name="shoal-audiences-realtime"),
            asyncio.create_task(self._schedule_loop(), name="shoal-audiences-schedule"),
        ]

    async def stop(self) -> None:
        """Stop the loops (a refresh in progress is abandoned; its changes were not applied)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.realtime.close()

    def touched(
        self, space: str, pks: set[int], kinds: set[tuple[str, str | None]] | None = None
    ) -> None:
        """Identity's listener: these canonical profiles of ``space`` changed, through events
        of these ``(type, name)`` kinds only (``None``: in any way)."""
        self.realtime.touched(space, pks, kinds)

    def invalidate(self) -> None:
        """Definitions changed: reload them (and the object collections) on the next pass."""
        self._cache = None
        self._objects.clear()

    def audiences(self) -> list[Audience]:
        """Every audience, dependencies first (cached until ``invalidate``)."""
        if self._cache is None:
            self._cache = ordered(self.repo.all())
        return self._cache

    def pending(self) -> bool:
        """Whether touched profiles still wait for a real-time pass."""
        return self.realtime.pending()

    # -- refreshing -----------------------------------------------------------------------

    async def refresh(self, audience: Audience, only: list[int] | None = None) -> Outcome:
        """Evaluate an audience (all profiles, or ``only``) and record what changed.

        Errors are stored on the audience (status ``error``) and raised again."""
        async with self.lock(audience):
            started = time.perf_counter()
            at = now_ms()
            try:
                sql = compile_changes(
                    model.from_json(audience.definition), audience.collection,
                    space_for(audience), at, "duckdb", audience.key,
                    await self._schema(audience), only,
                )  # fmt: skip
                entered, exited = await self.members.changes(sql)
            except Exception as exc:
                await self.failed(audience, exc)
                raise
            return await self._record(audience, entered, exited, at, only is None, started)

    async def _schema(self, audience: Audience) -> EmbeddedSchema:
        scope = (audience.workspace_id, audience.environment)
        objects = self._objects.get(scope)
        if objects is None:
            objects = await asyncio.to_thread(self.repo.object_collections, *scope)
            self._objects[scope] = objects
        return embedded_schema(objects, self.materialized(space_for(audience)))

    def lock(self, audience: Audience) -> asyncio.Lock:
        """Held while an audience refreshes: two refreshes at once would apply changes twice."""
        return self._locks.setdefault(audience.id, asyncio.Lock())

    def succeeded(self, audience: Audience) -> None:
        """A refresh of the audience succeeded: no retry is due."""
        self._failed_at.pop(audience.id, None)

    async def failed(self, audience: Audience, exc: BaseException) -> None:
        """Show a refresh's error on the audience; it is retried a minute later."""
        self._failed_at[audience.id] = time.monotonic()
        message = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(
            self.repo.record_refresh, audience.id, status="error", error=message, size=None
        )
        self.invalidate()

    async def _record(
        self, audience: Audience, entered: list[int], exited: list[int], at: int, full: bool,
        started: float,
    ) -> Outcome:  # fmt: skip
        """Apply a refresh's changes and tell everyone who listens (callers hold the lock)."""
        space = space_for(audience)
        if not (full or entered or exited) and audience.status == "ready":
            # A real-time re-check that changed nothing: nothing to write.
            return Outcome(0, 0, audience.size or 0, False, time.perf_counter() - started)
        try:
            size = await self.members.apply(
                space, audience.key, audience.version, entered, exited, at, full
            )
        except Exception as exc:
            await self.failed(audience, exc)
            raise
        self.succeeded(audience)
        if full:
            self._last_full[audience.id] = time.time()
        if full or audience.status != "ready" or entered or exited:
            await asyncio.to_thread(
                self.repo.record_refresh, audience.id, status="ready", error=None, size=size
            )
            self.invalidate()
        if entered or exited:
            await self.announce(audience, entered, exited, at)
        return Outcome(len(entered), len(exited), size, full, time.perf_counter() - started)

    async def announce(
        self, audience: Audience, entered: list[int], exited: list[int], at: int,
        evaluated: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        """Tell listeners, send the changes as events, and have the audiences built on this
        one (except those in ``evaluated``: a later level of the same pass saw the change
        already) re-check the profiles that moved."""
        for listener in self.listeners:
            listener(audience, entered, exited)
        await self.emitter.emit(audience, entered, exited, at)
        self._propagate(audience, [*entered, *exited], evaluated)

    def _propagate(self, audience: Audience, pks: list[int], evaluated: frozenset[str]) -> None:
        for other in self.audiences():
            if other.id == audience.id or other.workspace_id != audience.workspace_id:
                continue
            if other.id in evaluated:
                continue
            if other.environment != audience.environment:
                continue
            if audience.key in model.references(model.from_json(other.definition)):
                self.touched(space_for(other), set(pks))

    # -- loops -------------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                for audience in self.audiences():
                    if self._due(audience):
                        try:
                            await self.refresh(audience)
                        except Exception:
                            log.warning(
                                "refresh of audience %s failed", audience.key, exc_info=True
                            )
                await self.realtime.warm()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the audience schedule failed; retrying on the next tick")

    def _due(self, audience: Audience) -> bool:
        failed = self._failed_at.get(audience.id)
        if failed is not None and time.monotonic() - failed < _RETRY_AFTER_ERROR_S:
            return False
        if audience.computed_at is None or audience.status == "pending":
            return True
        last_full = self._last_full.get(audience.id, audience.computed_at.timestamp())
        age = time.time() - last_full
        if audience.refresh == "scheduled":
            return age >= audience.interval_s
        if audience.collection not in (model.USERS, model.ACCOUNTS):
            return age >= min(audience.interval_s, self.time_recheck_s)
        return age >= self.time_recheck_s and model.time_dependent(
            model.from_json(audience.definition)
        )


def describe(outcome: Outcome) -> dict[str, Any]:
    """An outcome as the API shows it."""
    return {
        "entered": outcome.entered,
        "exited": outcome.exited,
        "size": outcome.size,
        "full": outcome.full,
        "seconds": round(outcome.seconds, 3),
    }
