"""A real-time pass's reads and writes on the embedded store.

Reads run on a cursor and a thread of their own, so a pass never queues behind other reads
(the Profile API, previews, computed traits), and DuckDB, which releases the GIL while it
runs, can use the second core while the pipeline uses the first. The pass's profiles and
their rows stay in that cursor's temporary tables (``embedded.REALTIME_SETUP``) from one
dependency level to the next. Writes apply a whole level's changes in one transaction.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import duckdb

from shoal.audiences.embedded import REALTIME_SETUP
from shoal.store.duckdb import DuckDBStore

T = TypeVar("T")
_PREPARED = 64
"""Statements kept prepared on the pass cursor (a space's levels, as audiences change)."""

Found = tuple[list[int], list[int]]
"""``(entered, exited)`` profile ids of one audience."""


@dataclass(frozen=True)
class Statement:
    """A pass's SQL; if it ``reads_now``, "now" is its parameter ``$1``."""

    sql: str
    reads_now: bool


class PassReader:
    """A cursor and a thread for real-time passes only; the pass's profiles and their rows
    are kept in the cursor's temporary tables (``embedded.REALTIME_SETUP``) between levels."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self._thread: ThreadPoolExecutor | None = None
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._prepared: dict[str, str] = {}
        self._names = itertools.count()

    async def _run(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if self._cursor is None:
            # A cursor of a reader cursor is one more connection to the same database.
            self._cursor = await self.store.run_read(lambda cur: cur.cursor())
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="shoal-audiences-realtime")
        cursor = self._cursor
        assert self._thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, cursor)

    async def prepare(self, pks: Sequence[int]) -> None:
        """Hold the pass's profiles (``realtime_only``) and copy their rows."""

        def run(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute("CREATE OR REPLACE TEMP TABLE realtime_only (profile_id BIGINT)")
            cur.execute("INSERT INTO realtime_only SELECT unnest(?::BIGINT[])", [list(pks)])
            for statement in REALTIME_SETUP:
                cur.execute(statement)

        await self._run(run)

    async def changes(self, statement: Statement, count: int, now: int) -> list[Found]:
        """Run a ``combined.changes`` statement of ``count`` audiences at ``now``. Each is
        prepared once on the cursor: parsing its text costs DuckDB about as much as running
        it over a round's profiles."""
        sql = statement.sql
        run_it = f"({int(now)})" if statement.reads_now else ""

        def run(cur: duckdb.DuckDBPyConnection) -> list[Found]:
            name = self._prepared.get(sql)
            if name is None:
                if len(self._prepared) >= _PREPARED:
                    for old in self._prepared.values():
                        cur.execute(f"DEALLOCATE {old}")
                    self._prepared.clear()
                name = f"realtime_pass_{next(self._names)}"
                cur.execute(f"PREPARE {name} AS {sql}")
                self._prepared[sql] = name
            out: list[Found] = [([], []) for _ in range(count)]
            for query, pk, entering in cur.execute(f"EXECUTE {name}{run_it}").fetchall():
                out[query][0 if entering else 1].append(int(pk))
            for entered, exited in out:
                entered.sort()
                exited.sort()
            return out

        return await self._run(run)

    async def close(self) -> None:
        """Close the cursor and stop the thread."""
        if self._thread is None:
            return
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, cursor.close)
        self._thread.shutdown(wait=True)
        self._thread = None
