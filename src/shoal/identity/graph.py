"""The identity graph in memory: flat matching, limits, priority demotion, merges, caps.

``Graph`` holds a bounded cache of identifier → profile and of profile state; the stage
fills it for a round (one query for all misses) and then resolves the round's events in
order, collecting every change in a ``RoundChanges`` that is written in one transaction.
Resolution only depends on the messages and their order, never on how they were batched:
new profile numbers derive from the creating message and a merge keeps the older profile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from shoal.identity.identifiers import Identifier, cache_key, profile_id, profile_pk
from shoal.identity.rules import CompiledSettings

_ENCODE = msgspec.json.Encoder().encode
MAX_MERGES = 100
MAX_IDENTITIES = 1000


class Mapping(NamedTuple):
    """One identifier of a profile (``pk`` is the profile it was first added to).

    A tuple in the column order of ``identity_ids`` (less its write time): the write turns a
    round's mappings into columns with one ``zip``, and tuples of plain values drop out of
    the cyclic collector's sight, which matters with millions of them cached.
    """

    space: str
    key: int
    collection: str
    type: str
    value: str
    pk: int
    added_at: int
    message_id: str
    source_id: str

    @property
    def skey(self) -> str:
        """The in-memory cache key."""
        return cache_key(self.space, self.collection, self.type, self.value)


@dataclass(slots=True)
class Profile:
    """The current state of a canonical profile (user or account)."""

    space: str
    pk: int
    collection: str
    created_at: int
    first_message_id: str
    first_source_id: str
    last_seen: int
    last_message_id: str
    last_source_id: str
    merges: int = 0
    traits: dict[str, list[Any]] = field(default_factory=dict)
    """``trait → [value, timestamp_ms]``; a ``None`` value is a removed trait."""
    mappings: list[Mapping] = field(default_factory=list)
    updated_at: int = 0
    _id: str = ""

    @property
    def id(self) -> str:
        """The public id (``use_…`` or ``acc_…``)."""
        if not self._id:
            self._id = profile_id(self.collection, self.pk)
        return self._id

    def set_traits(self, traits: dict[str, Any], ts: int) -> bool:
        """Last-updated wins per trait; ``None`` removes one. True if anything changed."""
        changed = False
        for key, value in traits.items():
            current = self.traits.get(key)
            # Equal timestamps: the message processed later wins (message order is fixed).
            if current is None or ts > current[1] or (ts == current[1] and value != current[0]):
                self.traits[key] = [value, ts]
                changed = True
        return changed

    def seen(self, ts: int, message_id: str, source_id: str) -> None:
        """Advance last-seen (events may arrive out of order)."""
        if ts >= self.last_seen:
            self.last_seen, self.last_message_id, self.last_source_id = ts, message_id, source_id


@dataclass(slots=True)
class Merge:
    """One merge: ``from_pk`` now resolves to ``into_pk``."""

    space: str
    collection: str
    from_pk: int
    into_pk: int
    message_id: str
    source_id: str
    timestamp: int
    reason: str


@dataclass
class RoundChanges:
    """Everything a round changed, written in one transaction."""

    mappings: list[Mapping] = field(default_factory=list)
    profiles: dict[int, Profile] = field(default_factory=dict)
    """Profiles whose row must be (re)written: created, traits changed, merged."""
    created: set[int] = field(default_factory=set)
    """Profiles created this round (their rows are only appended)."""
    merges: list[Merge] = field(default_factory=list)
    links: list[tuple[str, int, int, str, str, int]] = field(default_factory=list)
    """``(space, user_pk, account_pk, message_id, source_id, timestamp)``."""
    timeline: list[tuple[str, int, Any]] = field(default_factory=list)
    """``(space, pk, event)`` rows for the profile timeline."""
    demoted: int = 0
    capped: int = 0
    rows: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    """The rows of ``profiles`` as they stood when the round was resolved (``freeze``)."""

    def touch(self, profile: Profile) -> None:
        """Mark a profile for rewriting."""
        self.profiles[profile.pk] = profile

    def freeze(self) -> None:
        """Snapshot the touched profiles' rows: the write runs while later rounds already
        change the same ``Profile`` objects, and must store this round's state."""
        moved = self.merged()
        self.rows = {
            p.pk: (
                p.space, p.pk, p.collection, moved.get(p.pk, p.pk), p.created_at,
                p.first_message_id, p.first_source_id, p.last_seen, p.last_message_id,
                p.last_source_id, p.merges, _ENCODE(p.traits),
            )
            for p in self.profiles.values()
        }  # fmt: skip

    @classmethod
    def combine(cls, rounds: list[RoundChanges]) -> RoundChanges:
        """Consecutive frozen rounds as one, written in one transaction (group commit).

        A profile touched by several keeps its last row; one created by any of them is
        created; merges chain (``merged`` follows them to the end)."""
        if len(rounds) == 1:
            return rounds[0]
        out = cls()
        for changes in rounds:
            out.mappings += changes.mappings
            out.profiles.update(changes.profiles)
            out.rows.update(changes.rows)
            out.created |= changes.created
            out.merges += changes.merges
            out.links += changes.links
            out.timeline += changes.timeline
            out.demoted += changes.demoted
            out.capped += changes.capped
        return out

    def merged(self) -> dict[int, int]:
        """Every profile merged away this round → its profile at the end of the round."""
        into = {m.from_pk: m.into_pk for m in self.merges}
        out = {}
        for start in into:
            end = into[start]
            while end in into:
                end = into[end]
            out[start] = end
        return out


class Graph:
    """The bounded caches and the resolution algorithm (see the module docstring)."""

    def __init__(self, max_ids: int = 2_000_000, max_profiles: int = 500_000) -> None:
        self.ids: dict[str, int] = {}
        """identifier cache key → the profile it was first added to."""
        self.profiles: dict[int, Profile] = {}
        """canonical profile → state (only canonical profiles live here)."""
        self.alias: dict[int, int] = {}
        """merged profile → the profile it merged into (path-compressed)."""
        self.max_ids = max_ids
        self.max_profiles = max_profiles

    def reset(self) -> None:
        """Forget everything (after a failed write the cache may be ahead of the store)."""
        self.ids.clear()
        self.profiles.clear()
        self.alias.clear()

    def oversized(self) -> bool:
        """Whether ``trim`` has anything to evict."""
        return len(self.ids) > self.max_ids or len(self.profiles) > self.max_profiles

    def trim(self) -> None:
        """Evict the oldest cached entries beyond the bounds (between rounds only)."""
        _evict(self.ids, self.max_ids)
        _evict(self.profiles, self.max_profiles)

    def find(self, pk: int) -> int:
        """The canonical profile of ``pk``."""
        root = pk
        while root in self.alias:
            root = self.alias[root]
        while pk != root:
            nxt = self.alias[pk]
            self.alias[pk] = root
            pk = nxt
        return root

    def canonical_of(self, key: str) -> int | None:
        """The canonical profile an identifier key belongs to, if known."""
        owner = self.ids.get(key)
        return None if owner is None else self.find(owner)

    # -- resolution -------------------------------------------------------------------------

    def resolve(
        self,
        space: str,
        collection: str,
        idents: list[Identifier],
        event: Any,
        rules: CompiledSettings,
        changes: RoundChanges,
    ) -> Profile:
        """Resolve one message's identifiers (priority order) to a profile, changing the graph.

        No match creates a profile; one match attaches; several merge into the oldest.
        When a limit would be exceeded the lowest-priority identifier is demoted (dropped)
        and the lookup retried. At the merge or identity caps nothing merges and nothing is
        added, but the message still resolves to its highest-priority match.
        """
        # The common cases (a known visitor's page view, a signed-in user's track): every
        # identifier is known and they all lead to one profile, which the message attaches
        # to, changing nothing. Anything else takes the full path.
        ids, alias = self.ids, self.alias
        found: int | None = None
        for ident in idents:
            owner = ids.get(ident.skey)
            if owner is None:
                break
            if owner in alias:
                owner = self.find(owner)
            if found is None:
                found = owner
            elif owner != found:
                break
        else:
            if found is not None:
                return self.profiles[found]
        ts: int = event.timestamp
        cands = list(idents)
        while True:
            matched: dict[int, Profile] = {}
            new: list[Identifier] = []
            for ident in cands:
                canon = self.canonical_of(ident.skey)
                if canon is None:
                    new.append(ident)
                elif canon not in matched:
                    matched[canon] = self.profiles[canon]
            if len(cands) == 1 or not self._exceeds(list(matched.values()), new, ts, rules):
                break
            cands.pop()
            changes.demoted += 1
        if not matched:
            pk = profile_pk(space, collection, event.source_id, event.message_id)
            profile = Profile(
                space,
                pk,
                collection,
                ts,
                event.message_id,
                event.source_id,
                ts,
                event.message_id,
                event.source_id,
            )
            self.profiles[pk] = profile
            changes.created.add(pk)
            changes.touch(profile)
            self._add(profile, new, event, changes)
            return profile
        profiles = list(matched.values())
        if len(profiles) > 1:
            merges = sum(p.merges for p in profiles) + len(profiles) - 1
            identities = sum(len(p.mappings) for p in profiles) + len(new)
            if merges > MAX_MERGES or identities > MAX_IDENTITIES:
                changes.capped += 1
                return profiles[0]
            profile = self._merge(profiles, cands, event, changes)
        else:
            profile = profiles[0]
        if new:
            self._add(profile, new, event, changes)
        return profile

    def _exceeds(
        self, profiles: list[Profile], new: list[Identifier], ts: int, rules: CompiledSettings
    ) -> bool:
        if not new and len(profiles) <= 1:
            return False
        # One profile: only the types being added can newly break a limit.
        only = {i.type for i in new} if len(profiles) <= 1 else None
        values: dict[tuple[str, str], set[str]] = {}
        for profile in profiles:
            for m in profile.mappings:
                if only is not None and m.type not in only:
                    continue
                rule = rules.get(m.collection, m.type)
                if rule is None or (
                    rule.window_ms is not None and m.added_at < ts - rule.window_ms
                ):
                    continue
                values.setdefault((m.collection, m.type), set()).add(m.value)
        for ident in new:
            values.setdefault((ident.collection, ident.type), set()).add(ident.value)
        for (collection, id_type), found in values.items():
            rule = rules.get(collection, id_type)
            if rule is not None and len(found) > rule.limit:
                return True
        return False

    def _add(
        self, profile: Profile, new: list[Identifier], event: Any, changes: RoundChanges
    ) -> None:
        for ident in new:
            if len(profile.mappings) >= MAX_IDENTITIES:
                changes.capped += 1
                break
            mapping = Mapping(
                profile.space,
                ident.key,
                ident.collection,
                ident.type,
                ident.value,
                profile.pk,
                event.timestamp,
                event.message_id,
                event.source_id,
            )
            profile.mappings.append(mapping)
            self.ids[ident.skey] = profile.pk
            changes.mappings.append(mapping)

    def _merge(
        self, profiles: list[Profile], cands: list[Identifier], event: Any, changes: RoundChanges
    ) -> Profile:
        # The oldest profile survives, so the result does not depend on batching.
        ordered = sorted(profiles, key=lambda p: (p.created_at, p.pk))
        into = ordered[0]
        matched_by = {self.canonical_of(i.skey): f"{i.type}:{i.value}" for i in cands}
        for other in ordered[1:]:
            for key, value in other.traits.items():
                mine = into.traits.get(key)
                if mine is None or value[1] > mine[1]:
                    into.traits[key] = value
            into.mappings.extend(other.mappings)
            into.merges += other.merges + 1
            if other.last_seen > into.last_seen:
                into.seen(other.last_seen, other.last_message_id, other.last_source_id)
            self.alias[other.pk] = into.pk
            self.profiles.pop(other.pk, None)
            # Its row is still written (pointing at ``into``) so its identifiers resolve.
            changes.touch(other)
            reason = (
                f"message carried {matched_by.get(into.pk, '?')} of {into.id} "
                f"and {matched_by.get(other.pk, '?')} of {other.id}"
            )
            changes.merges.append(
                Merge(
                    into.space,
                    into.collection,
                    other.pk,
                    into.pk,
                    event.message_id,
                    event.source_id,
                    event.timestamp,
                    reason,
                )
            )
        changes.touch(into)
        return into


def _evict(cache: dict[Any, Any], bound: int) -> None:
    # Oldest first (insertion order), with a tenth of slack so this runs rarely.
    excess = len(cache) - bound
    if excess > 0:
        for key in list(iter(cache))[: excess + bound // 10]:
            del cache[key]


def wall_ms() -> int:
    """Now, in epoch milliseconds."""
    return int(time.time() * 1000)
