"""The dlt-backed warehouses: BigQuery, Snowflake, ClickHouse, and DuckDB (the one that
runs here, and so the one the tests load into). Each is a settings model plus the dlt
destination built from it; loading is ``dlt_loader``'s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from shoal.destinations.base import Context, DestinationFactory
from shoal.destinations.safety import AddressPolicy
from shoal.destinations.warehouse.dlt_loader import DltSettings, dlt_factory
from shoal.destinations.warehouse.duckdb import own_file_check, resolve_path


class DltDuckDBSettings(DltSettings):
    """A DuckDB file loaded through dlt."""

    path: str = Field(min_length=1, description="DuckDB file; relative paths are in the data dir")


class BigQuerySettings(DltSettings):
    """A GCP project and a service account allowed to load into it."""

    project_id: str = Field(min_length=1)
    location: str = Field(default="US", description="Dataset location, e.g. US or EU")
    credentials_json: SecretStr = Field(description="The service account's JSON key")

    @field_validator("credentials_json")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        try:
            key = json.loads(value.get_secret_value())
        except ValueError:
            raise ValueError("credentials_json is not JSON (paste the key file)") from None
        if not isinstance(key, dict) or not {"client_email", "private_key"} <= key.keys():
            raise ValueError("credentials_json needs client_email and private_key")
        return value


class SnowflakeSettings(DltSettings):
    """A Snowflake account, user and virtual warehouse."""

    account: str = Field(min_length=1, description="Account identifier, e.g. kgiotue-wn98412")
    username: str = Field(min_length=1)
    password: SecretStr
    database: str = Field(min_length=1)
    warehouse: str | None = None
    role: str | None = None


class ClickHouseSettings(DltSettings):
    """A ClickHouse server (native protocol for DDL, HTTP for inserts)."""

    host: str = Field(min_length=1)
    port: int = Field(default=9440, ge=1, le=65535)
    http_port: int = Field(default=8443, ge=1, le=65535)
    username: str = "default"
    password: SecretStr | None = None
    database: str = "default"
    secure: bool = True


def _duckdb(settings: DltDuckDBSettings, context: Context) -> Any:
    import dlt

    return dlt.destinations.duckdb(str(resolve_path(settings.path, context.data_dir)))


def _bigquery(settings: BigQuerySettings, context: Context) -> Any:
    import dlt

    key = json.loads(settings.credentials_json.get_secret_value())
    # dlt reads a service-account key given as a dict into its credentials class.
    credentials: Any = {**key, "project_id": settings.project_id}
    return dlt.destinations.bigquery(credentials=credentials, location=settings.location)


def _snowflake(settings: SnowflakeSettings, context: Context) -> Any:
    import dlt

    credentials = {
        "host": settings.account,
        "username": settings.username,
        "password": settings.password.get_secret_value(),
        "database": settings.database,
        "warehouse": settings.warehouse,
        "role": settings.role,
    }
    return dlt.destinations.snowflake(
        credentials={k: v for k, v in credentials.items() if v is not None}
    )


def _clickhouse(settings: ClickHouseSettings, context: Context) -> Any:
    import dlt

    return dlt.destinations.clickhouse(
        credentials={
            "host": settings.host,
            "port": settings.port,
            "http_port": settings.http_port,
            "username": settings.username,
            "password": settings.password.get_secret_value() if settings.password else "",
            "database": settings.database,
            "secure": int(settings.secure),
        }
    )


def _clickhouse_host(settings: ClickHouseSettings, policy: AddressPolicy) -> None:
    # dlt opens its own connections, so the host is checked here, when configured.
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    policy.check_url(f"https://{host}/")


def _duckdb_file(settings: DltDuckDBSettings, policy: AddressPolicy) -> None:
    del policy
    own_file_check(Path(settings.path))


def duckdb_plugin() -> DestinationFactory:
    """DuckDB through dlt."""
    return dlt_factory(
        "warehouse_dlt_duckdb",
        "duckdb",
        "DuckDB (dlt)",
        "Events and identifies merged into a DuckDB file by a dlt pipeline.",
        DltDuckDBSettings,
        _duckdb,
        _duckdb_file,
    )


def bigquery_plugin() -> DestinationFactory:
    """BigQuery through dlt (``pip install 'dlt[bigquery]'`` as well)."""
    return dlt_factory(
        "warehouse_bigquery",
        "bigquery",
        "BigQuery",
        "Events and identifies loaded into a BigQuery dataset by a dlt pipeline.",
        BigQuerySettings,
        _bigquery,
    )


def snowflake_plugin() -> DestinationFactory:
    """Snowflake through dlt (``pip install 'dlt[snowflake]'`` as well)."""
    return dlt_factory(
        "warehouse_snowflake",
        "snowflake",
        "Snowflake",
        "Events and identifies loaded into a Snowflake schema by a dlt pipeline.",
        SnowflakeSettings,
        _snowflake,
    )


def clickhouse_plugin() -> DestinationFactory:
    """ClickHouse through dlt (``pip install 'dlt[clickhouse]'`` as well)."""
    return dlt_factory(
        "warehouse_clickhouse",
        "clickhouse",
        "ClickHouse",
        "Events and identifies loaded into a ClickHouse database by a dlt pipeline.",
        ClickHouseSettings,
        _clickhouse,
        _clickhouse_host,
    )
