"""The embedded queue: one SQLite file in WAL mode, owned by one thread.

Every publish is a transaction; publishes that arrive while a commit is under way are
committed together (group commit), so concurrent requests share fsyncs without any
request being acknowledged before its rows are on disk. Consumer offsets live in the same
file, and messages below every group's committed offset are deleted in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue as threadqueue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.plugins import url_path
from shoal.queue.base import Delivery, QueueCapabilities

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS offsets (grp TEXT PRIMARY KEY, committed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS retries_visible ON retries (grp, visible_at);
"""
_MAX_GROUP_COMMIT = 512
_IN_FLIGHT = 9e18
"""visible_at of a retry that is handed out; reset at start, as its consumer is gone."""
_TRUNCATE_EVERY = 2.0


@dataclass
class _Group:
    committed: int
    cursor: int
    pending: dict[int, int] = field(default_factory=dict)
    """Delivered but not yet acked: seq → attempts."""


class SQLiteQueue:
    """Durable single-node queue; see the module docstring."""

    capabilities = QueueCapabilities(durable=True, partitioned=False, shared_consumers=False)

    def __init__(self, path: Path | str, synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL"):
            raise ValueError(f"queue synchronous must be off, normal or full, not {synchronous}")
        self._inbox: threadqueue.SimpleQueue[tuple[str, Any, Future[Any]] | None] = (
            threadqueue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._published: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._groups: dict[str, _Group] = {}
        self._con: sqlite3.Connection | None = None
        self._last_truncate = 0.0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteQueue:
        """``sqlite:///relative/or/absolute/path.db`` (``sqlite:////abs`` also works)."""
        return cls(url_path(url), str(options.get("synchronous", "normal")))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._published = asyncio.Event()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="shoal-queue", daemon=True)
        self._thread.start()
        await self._call("noop", None)

    async def close(self) -> None:
        if self._thread is None:
            return
        self._inbox.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        await self._call("publish", [payload for _, payload in records])
        if self._published is not None:
            self._published.set()

    async def consume(self, group: str, max_records: int, wait: float) -> list[Delivery]:
        deadline = time.monotonic() + wait
        while True:
            assert self._published is not None
            self._published.clear()
            found: list[Delivery] = await self._call("consume", (group, max_records))
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            # Another process may publish too, so never sleep longer than a short poll.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._published.wait(), min(remaining, 0.25))

    async def ack(self, group: str, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await self._call("ack", (group, [d.id for d in deliveries]))

    async def nack(self, group: str, deliveries: Sequence[Delivery], delay: float) -> None:
        if deliveries:
            await self._call("nack", (group, [d.id for d in deliveries], delay))

    async def lag(self, group: str) -> int:
        result: int = await self._call("lag", group)
        return result

    # -- the owning thread --------------------------------------------------------------

    async def _call(self, op: str, arg: Any) -> Any:
        if self._thread is None:
            raise RuntimeError("queue is not started")
        future: Future[Any] = Future()
        self._inbox.put((op, arg, future))
        return await asyncio.wrap_future(future)

    def _run(self) -> None:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self.synchronous}")
        con.execute("PRAGMA busy_timeout=10000")
        con.executescript(_SCHEMA)
        con.execute("UPDATE retries SET visible_at=0 WHERE visible_at>=?", (_IN_FLIGHT,))
        self._con = con
        ops: dict[str, Callable[[Any], Any]] = {
            "noop": lambda _: None,
            "consume": self._consume,
            "ack": self._ack,
            "nack": self._nack,
            "lag": self._lag,
        }
        try:
            while True:
                first = self._inbox.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < _MAX_GROUP_COMMIT:
                    try:
                        nxt = self._inbox.get_nowait()
                    except threadqueue.Empty:
                        break
                    if nxt is None:
                        self._inbox.put(None)
                        break
                    batch.append(nxt)
                publishes = [item for item in batch if item[0] == "publish"]
                if publishes:
                    self._publish_group(publishes)
                for op, arg, future in batch:
                    if op != "publish":
                        self._answer(future, functools.partial(ops[op], arg))
                self._maybe_truncate()
        finally:
            con.close()

    @staticmethod
    def _answer(future: Future[Any], work: Callable[[], Any]) -> None:
        try:
            result = work()
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _publish_group(self, items: list[tuple[str, Any, Future[Any]]]) -> None:
        con = self._con
        assert con is not None
        try:
            con.execute("BEGIN IMMEDIATE")
            for _, payloads, _future in items:
                con.executemany(
                    "INSERT INTO messages(payload) VALUES (?)", [(p,) for p in payloads]
                )
            con.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            for _, _, future in items:
                future.set_exception(exc)
            return
        for _, _, future in items:
            future.set_result(None)

    def _group(self, name: str) -> _Group:
        group = self._groups.get(name)
        if group is None:
            assert self._con is not None
            row = self._con.execute("SELECT committed FROM offsets WHERE grp=?", (name,)).fetchone()
            committed = int(row[0]) if row else 0
            if row is None:
                self._con.execute("INSERT INTO offsets(grp, committed) VALUES (?, 0)", (name,))
            group = self._groups[name] = _Group(committed=committed, cursor=committed)
        return group

    def _consume(self, arg: tuple[str, int]) -> list[Delivery]:
        name, limit = arg
        con = self._con
        assert con is not None
        group = self._group(name)
        out: list[Delivery] = []
        retry_rows = con.execute(
            "SELECT id, payload, attempts FROM retries WHERE grp=? AND visible_at<=? "
            "ORDER BY visible_at, id LIMIT ?",
            (name, time.time(), limit),
        ).fetchall()
        for rid, payload, attempts in retry_rows:
            # Hidden until acked or nacked again, so it is not handed out twice meanwhile.
            con.execute("UPDATE retries SET visible_at=? WHERE id=?", (_IN_FLIGHT, rid))
            out.append(Delivery(id=f"r{rid}", payload=bytes(payload), attempts=int(attempts)))
        if len(out) < limit:
            rows = con.execute(
                "SELECT seq, payload FROM messages WHERE seq>? ORDER BY seq LIMIT ?",
                (group.cursor, limit - len(out)),
            ).fetchall()
            for seq, payload in rows:
                group.pending[seq] = 1
                out.append(Delivery(id=f"m{seq}", payload=bytes(payload)))
            if rows:
                group.cursor = rows[-1][0]
        return out

    def _advance(self, name: str, group: _Group) -> None:
        committed = min(group.pending) - 1 if group.pending else group.cursor
        if committed != group.committed:
            group.committed = committed
            assert self._con is not None
            self._con.execute("UPDATE offsets SET committed=? WHERE grp=?", (committed, name))

    def _ack(self, arg: tuple[str, list[str]]) -> None:
        name, ids = arg
        group = self._group(name)
        con = self._con
        assert con is not None
        con.execute("BEGIN")
        for rid in ids:
            if rid[0] == "m":
                group.pending.pop(int(rid[1:]), None)
            else:
                con.execute("DELETE FROM retries WHERE id=?", (int(rid[1:]),))
        self._advance(name, group)
        con.execute("COMMIT")

    def _nack(self, arg: tuple[str, list[str], float]) -> None:
        name, ids, delay = arg
        group = self._group(name)
        con = self._con
        assert con is not None
        visible = time.time() + max(delay, 0.0)
        con.execute("BEGIN")
        for rid in ids:
            if rid[0] == "m":
                seq = int(rid[1:])
                attempts = group.pending.pop(seq, None)
                if attempts is None:
                    continue
                con.execute(
                    "INSERT INTO retries(grp, payload, attempts, visible_at) "
                    "SELECT ?, payload, ?, ? FROM messages WHERE seq=?",
                    (name, attempts + 1, visible, seq),
                )
            else:
                con.execute(
                    "UPDATE retries SET attempts=attempts+1, visible_at=? WHERE id=?",
                    (visible, int(rid[1:])),
                )
        self._advance(name, group)
        con.execute("COMMIT")

    def _lag(self, name: str) -> int:
        con = self._con
        assert con is not None
        group = self._group(name)
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name='messages'").fetchone()
        head = int(row[0]) if row else 0
        retries = con.execute("SELECT count(*) FROM retries WHERE grp=?", (name,)).fetchone()[0]
        return head - group.committed + int(retries)

    def _maybe_truncate(self) -> None:
        now = time.monotonic()
        if now - self._last_truncate < _TRUNCATE_EVERY:
            return
        self._last_truncate = now
        con = self._con
        assert con is not None
        row = con.execute("SELECT min(committed), count(*) FROM offsets").fetchone()
        if row and row[1]:
            con.execute("DELETE FROM messages WHERE seq<=?", (int(row[0]),))
