"""The pipeline stage that resolves every accepted event to a profile.

Per round: extract identifiers, look up every cache miss in one query (a bit filter of
all stored keys tells "never seen" without asking the database), resolve the events in
order in memory, write all changes in one transaction, then set ``event.profile_id``.
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
from shoal.identity.identifiers import Identifier, extract
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

    async def process(self, events: list[NormalizedEvent]) -> None:
        """Resolve the round's accepted events and set their ``profile_id``."""
        todo = [e for e in events if e.status != "rejected"]
        if not todo:
            return
        async with self.lock:
            await self.resolve(todo)

    async def resolve(self, events: list[NormalizedEvent]) -> RoundChanges:
        """Resolve ``events`` in order (callers hold ``lock``); returns what changed."""
        if not self._warm:
            await self.warm()
        self.graph.trim()
        work = await asyncio.to_thread(self._extract, events)
        await self._prefetch(work)
        changes = await asyncio.to_thread(self._resolve, work)
        try:
            await self.store.write(changes)
        except Exception:
            # The cache is ahead of the database now; the replayed round starts clean.
            self.graph.reset()
            self.links.clear()
            raise
        for mapping in changes.mappings:
            self.filter.add(mapping.key)
        for _space, _pk, ev in changes.timeline:
            self.recent[message_key(ev.source_id, ev.message_id)] = None
        _bound(self.recent, _RECENT)
        _bound(self.links, _RECENT)
        self.stats.merges += len(changes.merges)
        self.stats.demoted += changes.demoted
        self.stats.capped += changes.capped
        if self.on_written is not None:
            self.on_written(changes)
        return changes

    def _extract(self, events: list[NormalizedEvent]) -> list[Work]:
        out: list[Work] = []
        rules: dict[tuple[str, str], CompiledSettings] = {}
        for ev in events:
            scope = (ev.workspace_id, ev.environment)
            compiled = rules.get(scope)
            if compiled is None:
                compiled = rules[scope] = self.rules_for(*scope)
            space = space_of(*scope)
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
        return changes


def _touch(profile: Profile, ev: NormalizedEvent, changes: RoundChanges, traits_on: str) -> None:
    # Last seen lives on the timeline; the profile row changes only with its traits.
    profile.seen(ev.timestamp, ev.message_id, ev.source_id)
    if ev.type == traits_on:
        traits: Any = ev.message.get("traits")
        if isinstance(traits, dict) and profile.set_traits(traits, ev.timestamp):
            changes.touch(profile)


def _bound(cache: dict[Any, None], size: int) -> None:
    excess = len(cache) - size
    if excess > 0:
        for key in list(iter(cache))[: excess + size // 10]:
            del cache[key]
