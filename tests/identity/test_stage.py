"""The identity stage's writes: committed behind resolution, grouped, and never half-applied.

The pipeline resolves round N+1 while round N's write commits; rounds that queue behind a
running write share one transaction; a failed write voids the rounds resolved on top of it,
and resolving them again (the pipeline's retry) ends where an undisturbed run ends.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from shoal.identity import IdentityService
from shoal.identity.graph import RoundChanges
from shoal.identity.stage import WriteAborted
from shoal.spec.normalize import NormalizedEvent
from tests.identity.helpers import event, identity

TABLES = {
    "identity_ids": "id_type, id_value, pk",
    "identity_profiles": "pk, canonical, traits",
    "identity_merges": "from_pk, into_pk, message_id",
    "identity_events": "pk, message_id",
}


def _rounds() -> list[list[NormalizedEvent]]:
    """Three rounds: anonymous browsing, a sign-up tying it to a user, a second device."""
    # fmt: off
    return [
        [
            event("page", anonymousId="a1", name="Home", ts=1_000, message_id="r1-1"),
            event("page", anonymousId="a2", name="Home", ts=1_001, message_id="r1-2"),
        ],
        [
            event("identify", userId="u1", anonymousId="a1", traits={"email": "j@x.io"},
                  ts=2_000, message_id="r2-1"),
            event("track", anonymousId="a2", event="Viewed", ts=2_001, message_id="r2-2"),
        ],
        [
            event("identify", userId="u1", anonymousId="a3", traits={"plan": "pro"},
                  ts=3_000, message_id="r3-1"),
            event("identify", userId="u2", anonymousId="a2", ts=3_001, message_id="r3-2"),
        ],
    ]
    # fmt: on


async def _tables(svc: IdentityService) -> dict[str, list[tuple[Any, ...]]]:
    async def read(table: str, columns: str) -> list[tuple[Any, ...]]:
        sql = f"SELECT {columns} FROM {table} ORDER BY ALL"
        return await svc.store.store.run_read(lambda cur: cur.execute(sql).fetchall())

    return {table: await read(table, columns) for table, columns in TABLES.items()}


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


async def _sequential(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    async with identity(root) as svc:
        for chunk in _rounds():
            await svc.stage.process_committed(chunk)
        return await _tables(svc)


async def test_rounds_queued_behind_a_write_share_one_commit(tmp_path: Path) -> None:
    expected = await _sequential(_dir(tmp_path / "one"))
    async with identity(_dir(tmp_path / "two")) as svc:
        written: list[RoundChanges] = []
        mark = svc.stage.on_written
        assert mark is not None

        def record(changes: RoundChanges) -> None:
            written.append(changes)
            mark(changes)

        svc.stage.on_written = record
        # Hold the store's single writer thread, so every round's write queues behind it.
        gate = threading.Event()
        held = asyncio.ensure_future(svc.store.store.run_write(lambda _con: gate.wait(10)))
        waiters = [await svc.stage.process(chunk) for chunk in _rounds()]
        gate.set()
        await held
        for waiter in waiters:
            assert waiter is not None
            await waiter
        # The first round's write was already waiting for the writer; the next two queued
        # behind it and were committed together.
        assert [len(c.timeline) for c in written] == [2, 4]
        assert await _tables(svc) == expected


class _FailOnce:
    """The real store, whose next write fails once (a full disk, say)."""

    def __init__(self, svc: IdentityService) -> None:
        self.write = svc.store.write
        self.armed = True

    async def __call__(self, changes: RoundChanges) -> None:
        if self.armed:
            self.armed = False
            raise OSError("No space left on device")
        await self.write(changes)


async def test_a_failed_write_voids_later_rounds_and_a_retry_ends_clean(tmp_path: Path) -> None:
    expected = await _sequential(_dir(tmp_path / "one"))
    async with identity(_dir(tmp_path / "two")) as svc:
        rounds = _rounds()
        await svc.stage.process_committed(rounds[0])
        svc.store.write = _FailOnce(svc)  # type: ignore[method-assign]
        # Round 2 fails to commit; round 3 was resolved on top of it before that was known.
        second = await svc.stage.process(rounds[1])
        third = await svc.stage.process(rounds[2])
        assert second is not None and third is not None
        with pytest.raises(OSError, match="No space left"):
            await second
        with pytest.raises(WriteAborted):
            await third
        # The pipeline delivers both rounds again: resolution starts over from the store.
        for chunk in _rounds()[1:]:
            await svc.stage.process_committed(chunk)
        assert await _tables(svc) == expected
        # The events carry the same profiles as in an undisturbed run.
        assert rounds[1][0].profile_id is not None


async def test_a_failing_listener_stalls_nothing(tmp_path: Path) -> None:
    expected = await _sequential(_dir(tmp_path / "one"))
    async with identity(_dir(tmp_path / "two")) as svc:

        def broken(_changes: RoundChanges) -> None:
            raise RuntimeError("listener bug")

        svc.stage.on_written = broken
        waiters = [await svc.stage.process(chunk) for chunk in _rounds()]
        for waiter in waiters:
            assert waiter is not None
            await asyncio.wait_for(waiter, 10)
        assert await _tables(svc) == expected


async def test_a_round_cancelled_mid_resolution_is_resolved_again_from_the_store(
    tmp_path: Path,
) -> None:
    """The pipeline cancels a round in flight when another fails; the resolution thread has
    changed the cache by then, and no write will carry those changes."""
    expected = await _sequential(_dir(tmp_path / "one"))
    async with identity(_dir(tmp_path / "two")) as svc:
        stage = svc.stage
        rounds = _rounds()
        await stage.process_committed(rounds[0])
        started, release = threading.Event(), threading.Event()
        resolve = stage._resolve

        def held(work: Any) -> RoundChanges:
            started.set()
            release.wait(10)
            return resolve(work)

        stage._resolve = held  # type: ignore[method-assign]
        task = asyncio.ensure_future(stage.process(rounds[1]))
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()  # the thread now resolves round 2 into the cache, with no write
        stage._resolve = resolve  # type: ignore[method-assign]
        for chunk in _rounds()[1:]:  # the pipeline delivers round 2 again, then round 3
            await stage.process_committed(chunk)
        assert await _tables(svc) == expected
