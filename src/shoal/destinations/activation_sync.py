"""Keeping one vendor-side list in step with one audience: windows, operations, retries.

The audience's membership history is read after the connection's cursor a window at a
time. Within a window each profile's changes collapse to what they amount to: a profile
that entered and exited again is neither added nor removed, and one that exited and came
back stays. The first window of a new connection reaches the end of the history, so the
first sync sends exactly the current members. The window's operations (adds, then
removes, each in profile order) go out in batches through ``sync_list``; every handled
batch is counted in the control plane before the next one, and the cursor moves past the
window only once all are handled, so a restart neither loses nor repeats one.

A failing batch is retried with the same backoff and retry window as event delivery; a
refusal, or a failure past the window, dead-letters the batch's profiles and moves on, so
one bad batch never stops the list. A replay sends those profiles' current membership.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shoal.audiences.members import MembershipStore
from shoal.audiences.model import USERS
from shoal.destinations.activation_repo import ActivationRepo
from shoal.destinations.base import ListMember, ListSyncClient, Outcome
from shoal.destinations.delivery import RetryPolicy, Stopped
from shoal.identity.identifiers import profile_id

log = logging.getLogger("shoal.destinations.activation")
BATCH = 1000
"""Operations (profiles to add or remove) per ``sync_list`` call."""
WINDOW = 10_000
"""History rows read and collapsed per window once the first sync is done."""
ADD, REMOVE = "add", "remove"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a connection reads and writes: the audience's history and the vendor's list."""

    key: tuple[str, str]
    space: str
    audience_key: str
    since_ms: int
    """Changes older than the audience (a former audience with the same key) are skipped."""
    list_id: str


@dataclass(slots=True)
class Collapsed:
    """The first and last change of each profile in a window."""

    first: dict[int, str] = field(default_factory=dict)
    last: dict[int, str] = field(default_factory=dict)

    def feed(self, rows: list[tuple[int, int, str, int]], since_ms: int) -> None:
        """Take history rows ``(seq, profile_id, change, changed_at)`` in seq order."""
        for _seq, pk, change, at in rows:
            if at >= since_ms:
                self.first.setdefault(pk, change)
                self.last[pk] = change

    def operations(self) -> list[tuple[str, list[int]]]:
        """Batches of ``(add|remove, profile ids)``: a profile outside before the window
        (its first change is an entry) and inside after it is added; the reverse removed."""
        add = sorted(pk for pk, c in self.last.items() if c == self.first[pk] == "entered")
        remove = sorted(pk for pk, c in self.last.items() if c == self.first[pk] == "exited")
        return [(ADD, add[i : i + BATCH]) for i in range(0, len(add), BATCH)] + [
            (REMOVE, remove[i : i + BATCH]) for i in range(0, len(remove), BATCH)
        ]


async def read_window(
    members: MembershipStore, target: Target, cursor: int, end: int | None
) -> tuple[Collapsed, int]:
    """Collapse the changes after ``cursor``: up to ``end`` when a window was begun, to the
    end of the history on a first sync, else at most ``WINDOW`` rows. Returns the window's
    last seq too (``cursor`` when there is nothing new)."""
    collapsed = Collapsed()
    after = last = cursor
    while True:
        page = await members.changes_after(target.space, target.audience_key, after, WINDOW)
        kept = [row for row in page if end is None or row[0] <= end]
        collapsed.feed(kept, target.since_ms)
        last = kept[-1][0] if kept else last
        if len(kept) < WINDOW or (end is None and cursor > 0):
            return collapsed, end if end is not None else last
        after = last


async def list_members(members: MembershipStore, pks: list[int]) -> list[ListMember]:
    """The profiles with their newest identifier of each type; a profile's ``email`` and
    ``phone`` traits stand in where no such identifier was collected. Profiles with
    nothing to match on are left out (a vendor could not find them anyway)."""
    ids = await members.all_identifiers(pks)
    traits = await members.traits(pks)
    out = []
    for pk in pks:
        found = {kind: values[-1] for kind, values in ids.get(pk, {}).items() if values}
        for name in ("email", "phone"):
            value = traits.get(pk, {}).get(name)
            if name not in found and isinstance(value, str) and value.strip():
                found[name] = value
        if found:
            out.append(ListMember(profile_id(USERS, pk), found))
    return out


@dataclass(frozen=True, slots=True)
class Attempt:
    """How sending one batch ended."""

    outcome: Outcome
    attempts: int
    first_at: datetime
    sent: int = 0
    """Profiles in the request (those with an identifier to match on)."""


class ListSender:
    """Sends batches to one list with retries; shared by the sync and its replays."""

    def __init__(
        self,
        target: Target,
        client: ListSyncClient,
        repo: ActivationRepo,
        members: MembershipStore,
        policy: RetryPolicy,
        stopping: asyncio.Event,
    ) -> None:
        self.target, self.client, self.repo = target, client, repo
        self.members, self.policy, self.stopping = members, policy, stopping

    async def send(self, add: list[int], remove: list[int]) -> Attempt:
        """Add and remove profiles until the vendor accepts, refuses, or the retry window
        passes. Raises ``Stopped`` when the destination stops while waiting to retry."""
        started, first_at, attempts = time.monotonic(), datetime.now(UTC), 0
        adding, removing = await self._members(add), await self._members(remove)
        if not adding and not removing:
            return Attempt(Outcome(True, None), 0, first_at)
        while True:
            outcome = await self._call(lambda: self.client.sync_list(
                self.target.list_id, adding, removing
            ))  # fmt: skip
            attempts += 1
            if outcome.ok:
                return Attempt(outcome, attempts, first_at, len(adding) + len(removing))
            reason = outcome.error or f"HTTP {outcome.status}"
            await asyncio.to_thread(
                self.repo.record_error, self.target.key, f"{reason}: {outcome.body[:300]}"
            )
            elapsed = time.monotonic() - started
            if not outcome.retryable or elapsed >= self.policy.window:
                return Attempt(outcome, attempts, first_at)
            delay = min(
                self.policy.delay(attempts - 1, outcome.retry_after), self.policy.window - elapsed
            )
            try:
                await asyncio.wait_for(self.stopping.wait(), max(0.0, delay))
            except TimeoutError:
                continue
            raise Stopped

    async def _members(self, pks: list[int]) -> list[ListMember]:
        return await list_members(self.members, pks) if pks else []

    async def _call(self, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
        try:
            return await call()
        except Exception as exc:  # an adapter bug must not end the sync: retry it
            log.exception("list sync %s: adapter failed", self.target.key)
            return Outcome(False, None, retryable=True, error=f"adapter error: {exc!r}")

    async def bury(self, operation: str, pks: list[int], attempt: Attempt) -> None:
        """Dead-letter a batch that failed for good."""
        outcome = attempt.outcome
        reason = outcome.error or f"HTTP {outcome.status}"
        if outcome.retryable:
            reason = f"retry window passed; last: {reason}"
        await asyncio.to_thread(
            self.repo.dead_letter, self.target.key, operation, pks, reason, outcome.status,
            outcome.body, attempt.attempts, attempt.first_at,
        )  # fmt: skip
        log.warning("list sync %s: %d %s(s) dead-lettered: %s", self.target.key, len(pks),
                    operation, reason)  # fmt: skip


async def sync_step(sender: ListSender) -> bool:
    """Sync one window of changes; ``False`` when there was nothing new."""
    target, repo = sender.target, sender.repo
    state = await asyncio.to_thread(repo.get, *target.key)
    collapsed, end = await read_window(sender.members, target, state.cursor, state.window_end)
    if end <= state.cursor:
        return False
    batches = collapsed.operations()
    if batches and state.window_end is None:
        await asyncio.to_thread(repo.begin_window, target.key, end)
    position = 0
    for operation, pks in batches:
        position += len(pks)
        if position <= state.window_done:
            continue  # accepted before a restart
        attempt = await sender.send(*((pks, []) if operation == ADD else ([], pks)))
        if not attempt.outcome.ok:
            await sender.bury(operation, pks, attempt)
        added = attempt.sent if operation == ADD else 0
        removed = attempt.sent if operation == REMOVE else 0
        await asyncio.to_thread(repo.progress, target.key, position, added, removed)
    await asyncio.to_thread(repo.finish_window, target.key, end)
    return True


async def replay_step(sender: ListSender) -> bool:
    """Replay the dead letters a person asked for: each profile's current membership."""
    letters = await asyncio.to_thread(sender.repo.replay_requested, sender.target.key)
    for letter in letters:
        inside: list[int] = []
        outside: list[int] = []
        for pk in letter.profile_ids:
            member = await sender.members.is_member(
                sender.target.space, sender.target.audience_key, pk
            )
            (inside if member else outside).append(pk)
        # Adds and removes apart, as in a sync: a retry never repeats an accepted half.
        attempts, outcome = letter.attempts, Outcome(True, None)
        for add, remove in ((inside, []), ([], outside)):
            attempt = await sender.send(add, remove)
            attempts, outcome = attempts + attempt.attempts, attempt.outcome
            if not outcome.ok:
                break
        reason = None if outcome.ok else (outcome.error or f"HTTP {outcome.status}")
        await asyncio.to_thread(sender.repo.replayed, letter.id, outcome.ok, reason, attempts)
    return bool(letters)
