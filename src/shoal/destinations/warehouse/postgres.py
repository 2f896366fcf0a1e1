"""The PostgreSQL warehouse destination (optional extra ``postgres``: psycopg 3).

Tables live in their own schema (``shoal`` by default). Connection failures are retried
like network errors; SQL errors (permissions, bad schema) are not.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shoal.destinations.base import Capabilities, Context, DestinationFactory, Outcome
from shoal.destinations.safety import AddressPolicy
from shoal.destinations.warehouse import (
    ACTIONS,
    EVENT_COLUMNS,
    IDENTIFY_COLUMNS,
    PROFILE_COLUMNS,
    rows,
)

_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"


def ddl(schema: str) -> str:
    """Schema and tables, created if missing."""
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.events (
    message_id TEXT PRIMARY KEY, type TEXT, event TEXT, name TEXT, user_id TEXT,
    anonymous_id TEXT, group_id TEXT, timestamp TIMESTAMPTZ, received_at TIMESTAMPTZ,
    properties JSONB, context JSONB);
CREATE TABLE IF NOT EXISTS {schema}.identifies (
    message_id TEXT PRIMARY KEY, user_id TEXT, anonymous_id TEXT, timestamp TIMESTAMPTZ,
    received_at TIMESTAMPTZ, traits JSONB, context JSONB);
CREATE TABLE IF NOT EXISTS {schema}.profiles (
    profile_key TEXT PRIMARY KEY, user_id TEXT, anonymous_id TEXT, traits JSONB,
    first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ);
"""


class PostgresWarehouseSettings(BaseModel):
    """How to reach the database."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dsn: SecretStr = Field(description="libpq URL, e.g. postgresql://user:pw@host:5432/db")
    schema_name: str = Field(default="shoal", pattern=_IDENT, alias="schema")
    batch_size: int = Field(default=1000, ge=1, le=10000)
    connect_timeout: int = Field(default=10, ge=1, le=120)


class PostgresWarehouse:
    """Inserts batches in one transaction each."""

    def __init__(self, settings: PostgresWarehouseSettings) -> None:
        self.settings = settings
        self.schema = settings.schema_name
        self._conn: Any = None
        self._ready = False
        # One connection, one transaction at a time: lanes of the engine share this client.
        self._lock = asyncio.Lock()

    async def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.settings.dsn.get_secret_value(),
                connect_timeout=self.settings.connect_timeout,
            )
            self._ready = False
        if not self._ready:
            async with self._conn.transaction():
                await self._conn.execute(ddl(self.schema))
            self._ready = True
        return self._conn

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Insert one batch."""
        async with self._lock:
            return await self._send(action, payloads)

    async def _send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        import psycopg

        batch = rows(action, payloads)
        s = self.schema
        try:
            conn = await self._connection()
            async with conn.transaction(), conn.cursor() as cur:
                if batch.events:
                    await cur.executemany(
                        f"INSERT INTO {s}.events ({EVENT_COLUMNS}) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        batch.events,
                    )
                if batch.identifies:
                    await cur.executemany(
                        f"INSERT INTO {s}.identifies ({IDENTIFY_COLUMNS}) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        batch.identifies,
                    )
                for profile in batch.profiles:
                    await cur.execute(
                        f"INSERT INTO {s}.profiles AS p ({PROFILE_COLUMNS}) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (profile_key) DO UPDATE SET "
                        "user_id = coalesce(excluded.user_id, p.user_id), "
                        "anonymous_id = coalesce(excluded.anonymous_id, p.anonymous_id), "
                        "traits = coalesce(p.traits, '{}'::jsonb) || excluded.traits, "
                        "first_seen = least(p.first_seen, excluded.first_seen), "
                        "last_seen = greatest(p.last_seen, excluded.last_seen)",
                        profile,
                    )
        except psycopg.OperationalError as exc:
            await self._drop()
            return Outcome(False, None, retryable=True, error=f"PostgreSQL: {exc}"[:500])
        except psycopg.Error as exc:
            return Outcome(False, None, retryable=False, error=f"PostgreSQL: {exc}"[:500])
        return Outcome(True, None, body=f"stored {len(payloads)} rows")

    async def _drop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Close the connection."""
        await self._drop()


async def _create(settings: PostgresWarehouseSettings, context: Context) -> PostgresWarehouse:
    del context
    return PostgresWarehouse(settings)


def _check(settings: PostgresWarehouseSettings, policy: AddressPolicy) -> None:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as exc:
        raise ValueError("warehouse_postgres needs the 'postgres' extra (psycopg)") from exc
    try:
        info = conninfo_to_dict(settings.dsn.get_secret_value())
    except Exception as exc:
        raise ValueError(f"dsn is not a valid PostgreSQL connection string: {exc}") from None
    for host in str(info.get("host") or "localhost").split(","):
        if host.startswith("/"):
            raise ValueError("dsn: Unix-socket hosts are local; use a TCP host")
        policy.check_url(f"http://{host if ':' not in host else f'[{host}]'}/")


def plugin() -> DestinationFactory:
    """The PostgreSQL warehouse destination."""
    return DestinationFactory(
        name="warehouse_postgres",
        title="PostgreSQL warehouse",
        category="Warehouses",
        description="Events, identifies and merged profiles as tables in PostgreSQL.",
        capabilities=Capabilities(batching=True, max_batch_size=10000),
        settings_model=PostgresWarehouseSettings,
        actions=ACTIONS,
        create=_create,
        check=_check,
    )
