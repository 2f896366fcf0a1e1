"""The embedded event store: one DuckDB file, written by one thread.

DuckDB allows a single read-write process and is built for bulk operations, so every
write goes through one writer thread that appends a batch to a staging table with the
Appender and moves it into ``events`` in one transaction, after recording its messageIds
in an indexed table (``ON CONFLICT DO NOTHING`` is the dedupe). Reads run on cursors of
the same database in a small thread pool.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import msgspec

from shoal.plugins import url_path
from shoal.spec.normalize import NormalizedEvent
from shoal.store.base import EventQuery, StoreCapabilities, StoredEvent, WriteResult
from shoal.store.migrations import DUCKDB_MIGRATIONS, apply_migrations

T = TypeVar("T")
_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode
_SPLIT_KEYS = ("properties", "traits", "context")
_COLUMNS = (
    "id, workspace_id, source_id, environment, message_id, type, event, user_id, "
    "anonymous_id, group_id, timestamp, received_at, status, reason, properties, traits, "
    "context, extra, violations, profile_id"
)
_STAGING = """
CREATE OR REPLACE TEMP TABLE staging (
    id BIGINT, workspace_id VARCHAR, source_id VARCHAR, environment VARCHAR,
    message_id VARCHAR, type VARCHAR, event VARCHAR, user_id VARCHAR, anonymous_id VARCHAR,
    group_id VARCHAR, timestamp BIGINT, received_at BIGINT, status VARCHAR, reason VARCHAR,
    properties VARCHAR, traits VARCHAR, context VARCHAR, extra VARCHAR, violations VARCHAR,
    profile_id VARCHAR
)
"""
_MOVE = f"""
INSERT INTO events ({_COLUMNS})
SELECT id, workspace_id, source_id, environment, message_id, type, event, user_id,
       anonymous_id, group_id, epoch_ms(timestamp), epoch_ms(received_at), status, reason,
       properties::JSON, traits::JSON, context::JSON, extra::JSON, violations::JSON,
       profile_id
FROM staging
"""
_KEY = "md5_number(source_id || chr(0) || message_id)"
CHECKPOINT_THRESHOLD = "64MB"
"""Write-ahead log size that triggers a checkpoint. DuckDB's default, 16MB, checkpointed
every few pipeline rounds under sustained ingestion, and each checkpoint rewrites the
indexes of the tables it touches, so their cost grows with the data, not with the round:
at 64MB, with ``shoal.interpreter``'s switch interval, identity resolution ran about 1.3x
faster and the bare pipeline 1.2x, the final checkpoint included (docs/benchmarks.md, "Fifth
round"). A larger log means a longer replay after a crash."""


def _json_or_none(value: object) -> str | None:
    return None if value is None else _ENCODE(value).decode()


def _scalar(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


class DuckDBStore:
    """Embedded event store; see the module docstring."""

    capabilities = StoreCapabilities(single_writer=True, dialect="duckdb")

    def __init__(
        self,
        path: Path | str,
        memory_limit: str = "512MB",
        threads: int = 2,
        checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
    ) -> None:
        self.path = Path(path)
        self._config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit,
            "threads": str(threads),
            "checkpoint_threshold": checkpoint_threshold,
            # Extensions would be downloaded from the internet; everything we use is built in.
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
        self._con: duckdb.DuckDBPyConnection | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._next_id = 1

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DuckDBStore:
        """``duckdb:///path/to/events.duckdb``."""
        return cls(
            url_path(url),
            memory_limit=str(options.get("memory_limit", "512MB")),
            threads=int(str(options.get("threads", 2))),
            checkpoint_threshold=str(options.get("checkpoint_threshold", CHECKPOINT_THRESHOLD)),
        )

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="shoal-store-writer")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="shoal-store-reader")
        await self._on_writer(self._open)

    async def close(self) -> None:
        if self._writer is None:
            return
        assert self._readers is not None
        self._readers.shutdown(wait=True)
        await self._on_writer(self._shutdown)
        self._writer.shutdown(wait=True)
        self._writer = self._readers = None

    async def write(self, events: Sequence[NormalizedEvent]) -> WriteResult:
        if not events:
            return WriteResult(0, 0)
        return await self._on_writer(lambda: self._write(events))

    async def events(self, query: EventQuery) -> list[StoredEvent]:
        return await self._on_reader(lambda cur: self._events(cur, query))

    async def count(self, source_id: str | None = None, status: str | None = None) -> int:
        where, params = self._filters(EventQuery(source_id=source_id, status=status))
        sql = f"SELECT count(*) FROM events {where}"
        return await self._on_reader(lambda cur: _scalar(cur.execute(sql, params)))

    async def forget_message_ids(self, received_before_ms: int) -> int:
        def run() -> int:
            assert self._con is not None
            row = self._con.execute(
                "DELETE FROM message_ids WHERE received_at < epoch_ms(?::BIGINT) RETURNING 1",
                [received_before_ms],
            ).fetchall()
            return len(row)

        return await self._on_writer(run)

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        def run(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = cur.execute(sql, list(params)).fetchall()
            return rows

        return await self._on_reader(run)

    # -- extension hooks for components that keep tables in this database -------------------

    async def migrate(self, component: str, migrations: list[tuple[int, str]]) -> int:
        """Apply a component's own additive migrations (see ``store.migrations``)."""
        return await self._on_writer(
            lambda: apply_migrations(self._connection(), migrations, component)
        )

    async def run_write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` on the single writer connection (for bulk loads of other tables)."""
        return await self._on_writer(lambda: work(self._connection()))

    async def run_read(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` on a reader cursor; it sees committed data only."""
        return await self._on_reader(work)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("store is not started")
        return self._con

    # -- threads --------------------------------------------------------------------------

    async def _on_writer(self, work: Callable[[], T]) -> T:
        if self._writer is None:
            raise RuntimeError("store is not started")
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)

    async def _on_reader(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if self._readers is None or self._con is None:
            raise RuntimeError("store is not started")

        def run() -> T:
            cursor = getattr(self._local, "cursor", None)
            if cursor is None:
                assert self._con is not None
                cursor = self._local.cursor = self._con.cursor()
            return work(cursor)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def _open(self) -> None:
        con = duckdb.connect(str(self.path), config=self._config)
        apply_migrations(con, DUCKDB_MIGRATIONS)
        con.execute(_STAGING)
        self._next_id = _scalar(con.execute("SELECT coalesce(max(id), 0) + 1 FROM events"))
        self._con = con

    def _shutdown(self) -> None:
        if self._con is not None:
            self._con.execute("CHECKPOINT")
            self._con.close()
            self._con = None

    # -- writing --------------------------------------------------------------------------

    def _write(self, events: Sequence[NormalizedEvent]) -> WriteResult:
        con = self._con
        assert con is not None
        first_id = self._next_id
        rows = []
        for offset, ev in enumerate(events):
            msg = ev.message
            extra = {k: v for k, v in msg.items() if k not in _SPLIT_KEYS}
            rows.append(
                (
                    first_id + offset,
                    ev.workspace_id,
                    ev.source_id,
                    ev.environment,
                    ev.message_id,
                    ev.type,
                    ev.event,
                    ev.user_id,
                    ev.anonymous_id,
                    ev.group_id,
                    ev.timestamp,
                    ev.received_at,
                    ev.status,
                    ev.reason,
                    _json_or_none(msg.get("properties")),
                    _json_or_none(msg.get("traits")),
                    _json_or_none(msg.get("context")),
                    _ENCODE(extra).decode(),
                    _json_or_none(ev.violations),
                    ev.profile_id,
                )
            )
        # A fresh staging table each round: DuckDB keeps a deleted temp table's memory.
        con.execute(_STAGING)
        appender = con.appender("staging")
        appender.append_rows(rows)
        appender.flush()
        # RETURNING on an indexed insert costs ~70 µs a row in DuckDB, so find the
        # duplicates with a semi-join (index-free, milliseconds) and insert the rest.
        seen = con.execute(
            f"SELECT id FROM staging SEMI JOIN message_ids m ON m.key = {_KEY}"
        ).fetchall()
        if seen:
            con.execute(
                "DELETE FROM staging WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [[row[0] for row in seen]],
            )
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"INSERT INTO message_ids SELECT {_KEY}, epoch_ms(received_at) FROM staging"
            )
            con.execute(_MOVE)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        self._next_id = first_id + len(rows)
        return WriteResult(inserted=len(rows) - len(seen), duplicates=len(seen))

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _filters(query: EventQuery) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("source_id", query.source_id), ("status", query.status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.event is not None:
            clauses.append("event = ?")
            params.append(query.event)
        if query.types:
            clauses.append(f"type IN ({', '.join('?' for _ in query.types)})")
            params.extend(query.types)
        if query.before_id is not None:
            clauses.append("id < ?")
            params.append(query.before_id)
        if query.after_id is not None:
            clauses.append("id > ?")
            params.append(query.after_id)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _events(self, cur: duckdb.DuckDBPyConnection, query: EventQuery) -> list[StoredEvent]:
        where, params = self._filters(query)
        order = "ASC" if query.after_id is not None else "DESC"
        sql = (
            "SELECT id, source_id, status, reason, properties, traits, context, extra, violations "
            f"FROM events {where} ORDER BY id {order} LIMIT ?"
        )
        out = []
        for row in cur.execute(sql, [*params, query.limit]).fetchall():
            message: dict[str, Any] = _DECODE(row[7])
            for key, raw in zip(_SPLIT_KEYS, row[4:7], strict=True):
                if raw is not None:
                    message[key] = _DECODE(raw)
            violations = _DECODE(row[8]) if row[8] is not None else None
            out.append(StoredEvent(row[0], row[1], row[2], row[3], message, violations))
        return out
