"""The persistence interface of identity resolution (DuckDB today; PostgreSQL/ClickHouse next).

A backend keeps the identifier mappings, profiles (users and accounts), merges, user-account
links, the per-profile event timeline and computed-trait values. The stage needs only
``fetch`` and ``write``; the Profile API and computed traits use the read methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shoal.identity.graph import Mapping, Profile, RoundChanges


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One event on a profile's timeline."""

    profile_pk: int
    timestamp: int
    source_id: str
    message_id: str
    type: str
    event: str | None
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """A recorded merge, for explaining how a profile came to be."""

    from_pk: int
    into_pk: int
    collection: str
    message_id: str
    source_id: str
    timestamp: int
    reason: str
    created_at: int


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of timeline events plus whether more follow."""

    events: list[TimelineEvent]
    has_more: bool
    cursor: tuple[int, int] | None
    """``(timestamp, seq)`` of the last event, to continue after it."""


class IdentityStore(Protocol):
    """What identity resolution needs from a database."""

    async def start(self) -> None:
        """Create or upgrade the tables."""

    async def fetch(
        self, keys: Sequence[int], pks: Sequence[int]
    ) -> tuple[list[tuple[Mapping, int]], list[Profile]]:
        """Mappings of ``keys`` with their canonical profile, and the state (with all
        mappings) of the canonical profiles of ``pks`` and of those mappings."""

    async def write(self, changes: RoundChanges) -> None:
        """Write a round's changes atomically (frozen: profile rows come from ``rows``)."""

    async def known_keys(self) -> list[int]:
        """Every identifier key stored (to seed the negative-lookup filter)."""

    async def recent_message_keys(self, limit: int) -> list[str]:
        """Keys of the newest timeline messages (to skip them if their round is replayed)."""

    async def clear_space(self, space: str) -> None:
        """Remove everything resolved in a space (before re-resolution)."""

    async def canonical(self, space: str, collection: str, id_type: str, value: str) -> int | None:
        """The canonical profile that holds an identifier, or ``None``."""

    async def profile(
        self, space: str, pk: int, *, canonical: bool = False, details: bool = True
    ) -> Profile | None:
        """A profile's state, following merges to the canonical one (skipped when
        ``canonical`` says ``pk`` is one); ``details`` adds mappings and last seen."""

    async def lookup(
        self,
        space: str,
        collection: str,
        ref: int | tuple[str, str],
        *,
        details: bool = True,
        computed: bool = False,
    ) -> tuple[Profile, dict[str, tuple[Any, int]]] | None:
        """The canonical profile of ``collection`` named by ``ref`` (a profile number or an
        ``(id_type, value)`` identifier), in one store call: ``details`` as for
        ``profile``, and ``computed`` adds its computed traits (else ``{}``)."""

    async def members(self, space: str, pk: int) -> list[int]:
        """The canonical profile and every profile merged into it."""

    async def events(
        self,
        space: str,
        pk: int,
        *,
        limit: int,
        start: int | None = None,
        end: int | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        ascending: bool = False,
        after: tuple[int, int] | None = None,
    ) -> EventPage:
        """A page of a profile's events (merged profiles included)."""

    async def links(self, space: str, collection: str, pk: int) -> list[int]:
        """Profiles of the other collection linked to this one (users ↔ accounts)."""

    async def merges(self, space: str, pk: int) -> list[MergeRecord]:
        """Merges into this profile or any profile merged into it, oldest first."""

    async def computed(self, space: str, pk: int) -> dict[str, tuple[Any, int]]:
        """Computed-trait values of a profile: ``key → (value, updated_at)``."""

    async def count_profiles(self, space: str, collection: str) -> int:
        """How many canonical profiles a space has."""

    async def recent_profiles(
        self, space: str, collection: str, limit: int, offset: int = 0
    ) -> list[Profile]:
        """A page of a space's canonical profiles, most recently updated first (no
        mappings)."""
