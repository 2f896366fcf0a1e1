"""The DuckDB warehouse destination: a DuckDB file of its own (never the event store).

Writes run on one dedicated thread with one connection, as DuckDB wants a single writer.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from shoal.destinations.base import Capabilities, Context, DestinationFactory, Outcome
from shoal.destinations.safety import AddressPolicy
from shoal.destinations.warehouse import (
    ACTIONS,
    EVENT_COLUMNS,
    IDENTIFY_COLUMNS,
    PROFILE_COLUMNS,
    rows,
)

DDL = """
CREATE TABLE IF NOT EXISTS events (
    message_id VARCHAR PRIMARY KEY, type VARCHAR, event VARCHAR, name VARCHAR,
    user_id VARCHAR, anonymous_id VARCHAR, group_id VARCHAR, timestamp TIMESTAMPTZ,
    received_at TIMESTAMPTZ, properties JSON, context JSON);
CREATE TABLE IF NOT EXISTS identifies (
    message_id VARCHAR PRIMARY KEY, user_id VARCHAR, anonymous_id VARCHAR,
    timestamp TIMESTAMPTZ, received_at TIMESTAMPTZ, traits JSON, context JSON);
CREATE TABLE IF NOT EXISTS profiles (
    profile_key VARCHAR PRIMARY KEY, user_id VARCHAR, anonymous_id VARCHAR, traits JSON,
    first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ);
"""


class DuckDBWarehouseSettings(BaseModel):
    """Where the warehouse file lives."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        description="DuckDB file; a relative path is inside the server's data dir.",
    )
    batch_size: int = Field(default=1000, ge=1, le=10000)


def resolve_path(path: str, data_dir: Path) -> Path:
    """A warehouse file's path; a relative one is inside the data dir."""
    target = Path(path)
    return (target if target.is_absolute() else data_dir / target).resolve()


class DuckDBWarehouse:
    """Inserts batches into the three tables."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="shoal-warehouse-duckdb")
        self._con: duckdb.DuckDBPyConnection | None = None

    async def _run(self, work: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
            self._con.execute(DDL)
        return self._con

    def _write(self, action: str, payloads: list[dict[str, Any]]) -> None:
        con = self._open()
        batch = rows(action, payloads)
        con.execute("BEGIN TRANSACTION")
        try:
            if batch.events:
                con.executemany(
                    f"INSERT INTO events ({EVENT_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    batch.events,
                )
            if batch.identifies:
                con.executemany(
                    f"INSERT INTO identifies ({IDENTIFY_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    batch.identifies,
                )
            for profile in batch.profiles:
                # One statement per profile: later identifies in a batch merge over earlier.
                con.execute(
                    f"INSERT INTO profiles ({PROFILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (profile_key) DO UPDATE SET "
                    "user_id = coalesce(excluded.user_id, profiles.user_id), "
                    "anonymous_id = coalesce(excluded.anonymous_id, profiles.anonymous_id), "
                    "traits = json_merge_patch(profiles.traits, excluded.traits), "
                    "first_seen = least(profiles.first_seen, excluded.first_seen), "
                    "last_seen = greatest(profiles.last_seen, excluded.last_seen)",
                    profile,
                )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Insert one batch; a locked or failing file is retried."""
        try:
            await self._run(lambda: self._write(action, payloads))
        except duckdb.IOException as exc:
            return Outcome(False, None, retryable=True, error=f"DuckDB I/O: {exc}"[:500])
        except duckdb.Error as exc:
            return Outcome(False, None, retryable=False, error=f"DuckDB: {exc}"[:500])
        return Outcome(True, None, body=f"stored {len(payloads)} rows")

    async def close(self) -> None:
        """Close the file and the thread."""

        def shut() -> None:
            if self._con is not None:
                self._con.close()
                self._con = None

        await self._run(shut)
        self._thread.shutdown(wait=True)


async def _create(settings: DuckDBWarehouseSettings, context: Context) -> DuckDBWarehouse:
    return DuckDBWarehouse(resolve_path(settings.path, context.data_dir))


def own_file_check(path: Path) -> None:
    """Refuse Shoal's own files as a warehouse file."""
    if path.name in ("events.duckdb", "queue.db", "control.db"):
        raise ValueError(f"{str(path)!r} is one of Shoal's own files; choose another file")


def _check(settings: DuckDBWarehouseSettings, policy: AddressPolicy) -> None:
    del policy
    own_file_check(Path(settings.path))


def plugin() -> DestinationFactory:
    """The DuckDB warehouse destination."""
    return DestinationFactory(
        name="warehouse_duckdb",
        title="DuckDB warehouse",
        category="Warehouses",
        description="Events, identifies and merged profiles as tables in a DuckDB file.",
        capabilities=Capabilities(batching=True, max_batch_size=10000),
        settings_model=DuckDBWarehouseSettings,
        actions=ACTIONS,
        create=_create,
        check=_check,
    )
