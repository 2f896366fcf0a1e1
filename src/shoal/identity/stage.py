"""The pipeline stage that resolves every accepted event to a profile.

Per round: extract identifiers, look up every cache miss in one query (a bit filter of
all stored keys tells "never seen" without asking the database), resolve the events in
order in memory and set ``event.profile_id``, then hand all changes to the writer, which
commits them in one transaction while the pipeline resolves the next round. Rounds that
queue up behind a running write are committed together (group commit), so a slow disk
costs fewer, larger commits rather than a growing backlog. If a write fails, the rounds
resolved after it are not written either, the caches are dropped, and resolution starts
again from the store when the pipeline replays them.
A replayed round (same messageIds) resolves to the same profiles and adds nothing: its
identifiers are already mapped, traits carry their timestamps, and recently written
messages are remembered so their timeline rows are not added twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal.identity.duckdb_store import message_key
from shoal.identity.graph import Graph, Profile, RoundChanges
from shoal.identity.identifiers import Identifier, cache_key, extract
from shoal.identity.rules import CompiledSettings
from shoal.identity.store import IdentityStore
from shoal.spec.normalize import NormalizedEvent

log = logging.getLogger("shoal.identity")
_BLOOM_BITS = 1 << 27
_MASK = _BLOOM_BITS - 1
_RECENT = 200_000

Work = tuple[NormalizedEvent, str, CompiledSettings, list[Identifier], list[Identifier]]


def space_of(workspace_id: str, environment: str) -> str:
    """The identity space of a workspace's environment."""
    return f"{workspace_id}:{environment}"


class KeyFilter:
    """A two-probe bit filter over identifier keys: ``False`` means never stored."""

    def __init__(self) -> None:
        self.bits = bytearray(_BLOOM_BITS // 8)

    def add(self, key: int) -> None:
        """Remember a key."""
        for pos in (key & _MASK, (key >> 27) & _MASK):
            self.bits[pos >> 3] |= 1 << (pos & 7)

    def maybe(self, key: int) -> bool:
        """Whether the key may have been stored."""
        bits = self.bits
        a, b = key & _MASK, (key >> 27) & _MASK
        return bool(bits[a >> 3] & (1 << (a & 7))) and bool(bits[b >> 3] & (1 << (b & 7)))


@dataclass
class IdentityStats:
    """Counters since start."""

    resolved: int = 0
    unresolved: int = 0
    profiles_created: int = 0
    merges: int = 0
    demoted: int = 0
    capped: int = 0
    lookups: int = 0


class WriteAborted(RuntimeError):
    """A round's write was not attempted: an earlier round's write failed, and this round
    was resolved on top of it (the pipeline replays both)."""


class IdentityStage:
    """Resolves accepted events to profiles; see the module docstring."""

    name = "identity"

    def __init__(
        self,
        store: IdentityStore,
        rules_for: Callable[[str, str], CompiledSettings],
        on_written: Callable[[RoundChanges], None] | None = None,
    ) -> None:
        self.store = store
        self.rules_for = rules_for
        self.on_written = on_written
        self.graph = Graph()
        self.filter = KeyFilter()
        self.recent: dict[str, None] = {}
        self.links: dict[tuple[int, int], None] = {}
        self.lock = asyncio.Lock()
        self.stats = IdentityStats()
        self._warm = False
        self._queue: list[tuple[RoundChanges, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self._busy: asyncio.Future[RoundChanges] | None = None

    async def warm(self) -> None:
        """Seed the key filter and the recent-message memory from the store."""
        for key in await self.store.known_keys():
            self.filter.add(key)
        for mk in await self.store.recent_message_keys(_RECENT):
            self.recent[mk] = None
        self._warm = True

    def forget(self) -> None:
        """Drop every cache (after re-resolution rewrote the tables)."""
        self.graph.reset()
        self.filter = KeyFilter()
        self.recent.clear()
        self.links.clear()
        self._warm = False

    def evict(
        self,
        space: str,
        mappings: list[tuple[str, str, str]],
        members: set[int],
        messages: list[tuple[str, str]],
    ) -> None:
        """Forget what the caches know of deleted rows (``(collection, type, value)``
        mappings, profiles, ``(source_id, message_id)`` messages), so that resolving their
        events again writes their timeline rows and links again (callers hold ``lock``)."""
        graph = self.graph
        for collection, id_type, value in mappings:
            graph.ids.pop(cache_key(space, collection, id_type, value), None)
        for pk in members:
            graph.profiles.pop(pk, None)
            graph.alias.pop(pk, None)
        for source_id, message in messages:
            self.recent.pop(message_key(source_id, message), None)
        for link in [link for link in self.links if link[0] in members or link[1] in members]:
            del self.links[link]

    async def process(self, events: list[NormalizedEvent]) -> asyncio.Future[None] | None:
        """Resolve the round's accepted events and set their ``profile_id``.

        Returns the round's write, already under way: the pipeline resolves the next round
        meanwhile and acknowledges this one only once the write has committed."""
        todo = [e for e in events if e.status != "rejected"]
        if not todo:
            return None
        async with self.lock:
            return self._submit(await self._resolve_round(todo))

    async def process_committed(self, events: list[NormalizedEvent]) -> None:
        """``process`` and wait for the round's write (for callers that are not the pipeline)."""
        pending = await self.process(events)
        if pending is not None:
            await pending

    async def resolve(self, events: list[NormalizedEvent]) -> RoundChanges:
        """Resolve ``events`` in order and commit them (callers hold ``lock``)."""
        changes = await self._resolve_round(events)
        await self._submit(changes)
        return changes

    async def drain(self) -> None:
        """Wait until every submitted write has committed or failed (callers hold ``lock``)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _resolve_round(self, events: list[NormalizedEvent]) -> RoundChanges:
        if self._busy is not None:
            # A cancelled round's resolution thread may still be changing the cache.
            await asyncio.wait([self._busy])
            self._busy = None
        if self._failed is not None:
            # The cache holds rounds that never reached the store: start again from it.
            await self.drain()
            self.forget()
            self._failed = None
        if not self._warm:
            await self.warm()
        if self.graph.oversized():
            # Evicting while writes are pending could reload a profile without them.
            await self.drain()
            self.graph.trim()
        work = await asyncio.to_thread(self._extract, events)
        await self._prefetch(work)
        busy = asyncio.get_running_loop().run_in_executor(None, self._resolve, work)
        try:
            changes = await asyncio.shield(busy)
        except BaseException:
            # Cancelled (the pipeline gave the round back) or broken midway: the cache may
            # hold changes no write will carry, so the next round starts from the store.
            self._busy = busy
            self._failed = self._failed or RuntimeError("a round's resolution was interrupted")
            raise
        # Remembered now, not after the commit: the next round is resolved before that. A
        # failed write makes the next round start from the store again (above).
        for mapping in changes.mappings:
            self.filter.add(mapping.key)
        recent = self.recent
        for _space, _pk, ev in changes.timeline:
            recent[message_key(ev.source_id, ev.message_id)] = None
        _bound(recent, _RECENT)
        _bound(self.links, _RECENT)
        self.stats.merges += len(changes.merges)
        self.stats.demoted += changes.demoted
        self.stats.capped += changes.capped
        return changes

    def _submit(self, changes: RoundChanges) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)
        self._queue.append((changes, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="shoal-identity-write")
        return done

    async def _write_queued(self) -> None:
        """Write queued rounds in order; rounds that queued up meanwhile share a commit."""
        while self._queue:
            batch, self._queue = self._queue, []
            if self._failed is not None:
                for _changes, done in batch:
                    _fail(done, WriteAborted("an earlier identity write failed"))
                continue
            changes = RoundChanges.combine([c for c, _ in batch])
            try:
                await self.store.write(changes)
            except BaseException as exc:
                self._failed = exc
                for _changes, done in batch:
                    if isinstance(exc, Exception):
                        _fail(done, exc)
                    else:
                        done.cancel()
                if not isinstance(exc, Exception):
                    raise
                log.warning("identity write of %d round(s) failed: %s", len(batch), exc)
                continue
            for _changes, done in batch:
                if not done.done():
                    done.set_result(None)
            if self.on_written is not None:
                try:
                    self.on_written(changes)
                except Exception:
                    # Committed already; a listener's bug must not stall the rounds queued
                    # behind this one.
                    log.exception("identity write listener failed")

    def _extract(self, events: list[NormalizedEvent]) -> list[Work]:
        out: list[Work] = []
        scopes: dict[tuple[str, str], tuple[CompiledSettings, str]] = {}
        for ev in events:
            scope = (ev.workspace_id, ev.environment)
            known = scopes.get(scope)
            if known is None:
                known = scopes[scope] = (self.rules_for(*scope), space_of(*scope))
            compiled, space = known
            users, accounts, _blocked = extract(space, ev.message, compiled)
            out.append((ev, space, compiled, users, accounts))
        return out

    async def _prefetch(self, work: list[Work]) -> None:
        graph = self.graph
        misses: set[int] = set()
        profiles: set[int] = set()
        for _ev, _space, _rules, users, accounts in work:
            for ident in (*users, *accounts):
                owner = graph.ids.get(ident.skey)
                if owner is None:
                    if self.filter.maybe(ident.key):
                        misses.add(ident.key)
                else:
                    canon = graph.find(owner)
                    if canon not in graph.profiles:
                        profiles.add(canon)
        if not misses and not profiles:
            return
        self.stats.lookups += 1
        mappings, loaded = await self.store.fetch(list(misses), list(profiles))
        for mapping, canon in mappings:
            graph.ids[mapping.skey] = mapping.pk
            if canon != mapping.pk:
                graph.alias[mapping.pk] = canon
        for profile in loaded:
            if profile.pk in graph.profiles:
                continue
            graph.profiles[profile.pk] = profile
            for mapping in profile.mappings:
                graph.ids.setdefault(mapping.skey, mapping.pk)
                if mapping.pk != profile.pk:
                    graph.alias[mapping.pk] = profile.pk

    def _resolve(self, work: list[Work]) -> RoundChanges:
        graph = self.graph
        changes = RoundChanges()
        before = len(graph.profiles)
        recent = self.recent
        resolved = 0
        for ev, space, rules, users, accounts in work:
            replayed = f"{ev.source_id}\x1f{ev.message_id}" in recent  # message_key, inlined
            user: Profile | None = None
            if users:
                user = graph.resolve(space, "users", users, ev, rules, changes)
                _touch(user, ev, changes, "identify")
                ev.profile_id = user.id
                if not replayed:
                    changes.timeline.append((space, user.pk, ev))
                resolved += 1
            if accounts:
                account = graph.resolve(space, "accounts", accounts, ev, rules, changes)
                _touch(account, ev, changes, "group")
                if not replayed:
                    changes.timeline.append((space, account.pk, ev))
                if user is not None and (user.pk, account.pk) not in self.links:
                    self.links[(user.pk, account.pk)] = None
                    changes.links.append(
                        (space, user.pk, account.pk, ev.message_id, ev.source_id, ev.timestamp)
                    )
        self.stats.resolved += resolved
        self.stats.unresolved += len(work) - resolved
        self.stats.profiles_created += max(0, len(graph.profiles) - before)
        changes.freeze()
        return changes


def _touch(profile: Profile, ev: NormalizedEvent, changes: RoundChanges, traits_on: str) -> None:
    # Last seen lives on the timeline; the profile row changes only with its traits.
    profile.seen(ev.timestamp, ev.message_id, ev.source_id)
    if ev.type == traits_on:
        traits: Any = ev.message.get("traits")
        if isinstance(traits, dict) and profile.set_traits(traits, ev.timestamp):
            changes.touch(profile)


def _retrieve(done: asyncio.Future[None]) -> None:
    # Whoever awaits the round sees its exception; nobody waiting must not log it as lost.
    if not done.cancelled():
        done.exception()


def _fail(done: asyncio.Future[None], exc: BaseException) -> None:
    if not done.done():
        done.set_exception(exc)


def _bound(cache: dict[Any, None], size: int) -> None:
    excess = len(cache) - size
    if excess > 0:
        for key in list(iter(cache))[: excess + size // 10]:
            del cache[key]
