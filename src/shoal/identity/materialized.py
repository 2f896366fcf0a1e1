"""Materialized event values: the few JSON values audiences read, kept as narrow rows.

A profile's timeline keeps each event's whole message as JSON, about a kilobyte. An audience
such as "sum of Order Completed revenue > 800" or "consented to marketing" needs one small
value out of it, and reading it out of the JSON means reading and parsing every message:
tens of seconds over millions of events. So when an audience is saved, the event paths it
aggregates or checks consent on (``properties.revenue``,
``context.consent.categoryPreferences.marketing``) are *materialized*: every event of the
space carrying a non-null value there gets a row ``(space, pk, seq, timestamp, type, event,
path, value)`` in ``identity_event_values``, the value as JSON text. That is what PostHog calls
a materialized column, as rows, so that adding a path needs no schema change.

Lifecycle of a path (``identity_materialized``): it is registered on the store's writer with
``since`` = the last timeline ``seq`` written, so every later round writes its values as it
writes the timeline (``rows_for``); the history up to ``since`` is backfilled in chunks of
``seq`` by one background task, each chunk committed with its progress (``done``), so a
restart resumes where it stopped and the pipeline's writes interleave with the chunks. The
path is *ready* when the backfill reaches ``since``; compiled audiences read the values only
for ready paths and the JSON otherwise, so results never depend on the backfill's progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import duckdb
import msgspec

from shoal.store.duckdb import DuckDBStore

log = logging.getLogger("shoal.identity")
_ENCODE = msgspec.json.Encoder().encode
CHUNK = 500_000
"""Timeline rows (by ``seq``) a backfill statement covers: a few hundred ms of writer time."""
LIMIT_PER_SPACE = 200
"""Paths a space may materialize: each costs a little at every write."""

MIGRATION = """
CREATE TABLE identity_event_values (
    space VARCHAR NOT NULL, pk BIGINT NOT NULL, seq BIGINT NOT NULL, timestamp BIGINT NOT NULL,
    type VARCHAR NOT NULL, event VARCHAR, path VARCHAR NOT NULL, value VARCHAR NOT NULL
);
CREATE TABLE identity_materialized (
    space VARCHAR NOT NULL, path VARCHAR NOT NULL, since BIGINT NOT NULL, done BIGINT NOT NULL,
    ready BOOLEAN NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (space, path)
)
"""
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_ -]+$")


def keys_of(path: str) -> list[str]:
    """The message keys of a dotted path (``properties.revenue`` -> properties, revenue)."""
    return path.split(".")


def value_at(message: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    """The JSON text of the value at ``keys`` in a message, or None when absent or null."""
    node: Any = message
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
        if node is None:
            return None
    return _ENCODE(node).decode()


def rows_for(
    paths: Mapping[str, tuple[tuple[str, list[str]], ...]],
    timeline: Iterable[tuple[Any, ...]],
    messages: Sequence[Mapping[str, Any]],
) -> list[tuple[Any, ...]]:
    """Value rows of a round's timeline rows ``(space, pk, seq, timestamp, source, id, type,
    event, …)`` whose messages are ``messages``, for each space's materialized paths."""
    out: list[tuple[Any, ...]] = []
    for row, message in zip(timeline, messages, strict=True):
        wanted = paths.get(row[0])
        if not wanted:
            continue
        for path, keys in wanted:
            value = value_at(message, keys)
            if value is not None:
                out.append((row[0], row[1], row[2], row[3], row[6], row[7], path, value))
    return out


def _json_path(keys: Sequence[str]) -> str:
    quoted = (k.replace("\\", "\\\\").replace('"', '\\"') for k in keys)
    return "$." + ".".join(f'"{k}"' for k in quoted)


def backfill_chunk(con: duckdb.DuckDBPyConnection, space: str, path: str, lo: int, hi: int) -> None:
    """Insert the values at ``path`` of the space's timeline rows with ``lo < seq <= hi``
    (no transaction of its own: callers commit it with their progress)."""
    keys = keys_of(path)
    guard = ""
    if _SIMPLE_KEY.match(keys[-1]):
        # msgspec writes such keys verbatim: a substring test skips most messages unparsed.
        guard = f"AND contains(message, '\"{keys[-1]}\"') "
    con.execute(
        "INSERT INTO identity_event_values SELECT space, pk, seq, timestamp, type, event, ?, "
        "CAST(v AS VARCHAR) FROM (SELECT *, json_extract(message, ?) AS v "
        f"FROM identity_events WHERE space = ? AND seq > ? AND seq <= ? {guard}) "
        "WHERE v IS NOT NULL AND json_type(v) <> 'NULL'",
        [path, _json_path(keys), space, lo, hi],
    )


class MaterializedValues:
    """The registry of materialized paths of one store, and their backfill."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.paths: dict[str, tuple[tuple[str, list[str]], ...]] = {}
        """Per space, the paths rounds write values for (read on the writer thread)."""
        self._ready: dict[str, frozenset[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self.on_ready: list[Callable[[str], None]] = []
        """Called with the space when one of its paths becomes ready."""

    async def start(self) -> None:
        """Load the registry and resume unfinished backfills."""

        def load(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, bool]]:
            rows = con.execute("SELECT space, path, ready FROM identity_materialized").fetchall()
            for space, path, _ in rows:
                self._add(space, path)
            return [(str(s), str(p), bool(r)) for s, p, r in rows]

        for space, path, ready in await self.store.run_write(load):
            if ready:
                self._ready[space] = self._ready.get(space, frozenset()) | {path}
        self._kick()

    async def stop(self) -> None:
        """Stop the backfill (it resumes at the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def ready(self, space: str) -> frozenset[str]:
        """The space's paths whose values are complete."""
        return self._ready.get(space, frozenset())

    async def materialize(self, space: str, paths: Iterable[str]) -> list[str]:
        """Register ``paths`` of ``space`` (those not yet registered) and start their
        backfill; returns the newly registered ones. Past the per-space limit, paths are
        left to the JSON (correct, only slower) and a warning is logged."""
        wanted = sorted(set(paths))

        def register(con: duckdb.DuckDBPyConnection) -> tuple[list[str], bool]:
            have = {p for p, _ in self.paths.get(space, ())}
            new = [p for p in wanted if p not in have]
            room = max(0, LIMIT_PER_SPACE - len(have))
            if len(new) > room:
                log.warning("space %s: not materializing %s (limit)", space, new[room:])
                new = new[:room]
            if not new:
                return [], False
            row = con.execute(
                "SELECT coalesce(max(seq), 0) FROM identity_events WHERE space = ?", [space]
            ).fetchone()
            since = int(row[0]) if row else 0
            con.executemany(
                "INSERT INTO identity_materialized VALUES (?, ?, ?, 0, ?, epoch_ms(now()))",
                [(space, p, since, since == 0) for p in new],
            )
            for p in new:
                self._add(space, p)
            return new, since == 0

        new, complete = await self.store.run_write(register)
        if complete:
            # Nothing to backfill: the rounds to come write every value.
            self._ready[space] = self.ready(space) | set(new)
            for listener in self.on_ready:
                listener(space)
        elif new:
            self._kick()
        return new

    def _add(self, space: str, path: str) -> None:
        self.paths[space] = (*self.paths.get(space, ()), (path, keys_of(path)))

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._backfill())

    async def _backfill(self) -> None:
        while True:
            pending = await self.store.run_read(
                lambda cur: cur.execute(
                    "SELECT space, path, done, since FROM identity_materialized WHERE NOT ready "
                    "ORDER BY created_at, path"
                ).fetchall()
            )
            if not pending:
                return
            for space, path, done, since in pending:
                try:
                    await self._fill(str(space), str(path), int(done), int(since))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Compiled audiences keep reading the JSON for this path meanwhile.
                    log.exception("backfilling %s of %s failed; retrying in a minute", path, space)
                    await asyncio.sleep(60)

    async def _fill(self, space: str, path: str, done: int, since: int) -> None:
        while done < since:
            hi = min(since, done + CHUNK)

            def chunk(con: duckdb.DuckDBPyConnection, lo: int = done, hi: int = hi) -> None:
                con.execute("BEGIN TRANSACTION")
                try:
                    backfill_chunk(con, space, path, lo, hi)
                    con.execute(
                        "UPDATE identity_materialized SET done = ?, ready = ? "
                        "WHERE space = ? AND path = ?",
                        [hi, hi >= since, space, path],
                    )
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise

            await self.store.run_write(chunk)
            done = hi
        self._ready[space] = self.ready(space) | {path}
        log.info("materialized %s of %s", path, space)
        for listener in self.on_ready:
            listener(space)
