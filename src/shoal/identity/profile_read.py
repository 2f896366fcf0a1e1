"""One Profile API request's reads in one reader call.

A request used to make one store call to find its profile and one more per resource
(events, links, merges, each linked profile): each call is a hop from the event loop to
the reader pool and back, which on a busy machine costs as much as the point queries.
``read_profile`` runs everything a resource needs in one call, as indexed point queries
on literals (``duckdb_reads``), and skips the members query when nothing was ever merged
into the profile (each merge counts on the surviving profile), which is the common case.

Measured on a million profiles (docs/benchmarks.md), one ``UNION ALL`` of the point
queries was slower than running them one by one: DuckDB's plan for the union costs more
than the statements it saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from shoal.identity.duckdb_reads import (
    DuckDBIdentityReads,
    EventsQuery,
    _computed,
    _load,
    _members,
    _owner,
    _small_timeline,
    linked_to,
    merges_of,
    page_of,
)
from shoal.identity.graph import Profile
from shoal.identity.store import EventPage, MergeRecord


@dataclass(frozen=True, slots=True)
class Want:
    """What a request needs besides the profile's state."""

    details: bool = False
    """Identifiers and last seen (``external_ids``, ``metadata``)."""
    computed: bool = False
    events: EventsQuery | None = None
    links: int = 0
    """Load up to this many linked profiles (of the other collection)."""
    merges: bool = False


@dataclass(slots=True)
class ProfileRead:
    """A canonical profile and what ``Want`` asked for."""

    profile: Profile
    computed: dict[str, tuple[Any, int]] = field(default_factory=dict)
    page: EventPage | None = None
    links: list[Profile] = field(default_factory=list)
    """The first ``Want.links`` linked profiles of the other collection, with their
    identifiers (in profile-number order)."""
    linked: int = 0
    """How many profiles are linked in all."""
    merges: list[MergeRecord] = field(default_factory=list)


async def read_profile(
    reads: DuckDBIdentityReads, space: str, collection: str, ref: int | tuple[str, str], want: Want
) -> ProfileRead | None:
    """The canonical profile of ``collection`` named by ``ref`` (a profile number or an
    ``(id_type, value)`` identifier) with what ``want`` asks for, in one reader call."""
    return await reads.store.run_read(lambda cur: _read(cur, space, collection, ref, want))


def _read(
    cur: duckdb.DuckDBPyConnection,
    space: str,
    collection: str,
    ref: int | tuple[str, str],
    want: Want,
) -> ProfileRead | None:
    pk = ref if isinstance(ref, int) else _owner(cur, space, collection, *ref)
    profile = None if pk is None else _load(cur, space, pk, want.details)
    if profile is None or profile.collection != collection:
        return None
    # Nothing merged into it: it is its only member, and no merge names it.
    members = [profile.pk] if profile.merges == 0 else _members(cur, space, profile.pk)
    out = ProfileRead(profile)
    if want.computed:
        out.computed = _computed(cur, space, profile.pk)
    if want.events is not None:
        out.page = page_of(_small_timeline(cur, members), cur, members, want.events)
    if want.links:
        others = linked_to(cur, space, collection, members)
        out.linked = len(others)
        for other in others[: want.links]:
            found = _load(cur, space, other, True)
            if found is not None:
                out.links.append(found)
    if want.merges and profile.merges:
        out.merges = merges_of(cur, space, members)
    return out
