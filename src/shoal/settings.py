"""Server settings, read from ``SHOAL_*`` environment variables and command-line flags.

Backend URLs choose implementations: the scheme of ``queue_url`` names a queue backend and
the scheme of ``store_url`` an event-store backend, both looked up in their registries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

_SIZE = r"(?i)^\s*\d*[1-9]\d*(\.\d+)?\s*([KMGT]i?B|B)\s*$"
"""A size as DuckDB reads it (``512MB``, ``1.5GB``, ``256MiB``) and not zero: a zero memory
limit makes every query fail."""


class Settings(BaseSettings):
    """Everything ``shoal serve`` needs to know; each field maps to ``SHOAL_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SHOAL_", extra="ignore")

    data_dir: Path = Path("./shoal-data")
    """Where the embedded backends keep their files."""
    host: str = "127.0.0.1"
    port: int = 8088
    public_url: str | None = None
    """Base URL that SDKs should use (the settings document's apiHost); defaults to the
    address each request arrived on."""
    admin_token: str | None = None
    """At the first start only: becomes the owner's API token (scripts rely on this)."""

    control_url: str | None = None
    """SQLAlchemy URL of the control plane; default ``sqlite:///<data_dir>/control.db``."""
    queue_url: str | None = None
    """Queue backend; default ``sqlite:///<data_dir>/queue.db``."""
    store_url: str | None = None
    """Event store backend; default ``duckdb:///<data_dir>/events.duckdb``."""

    queue_sync: Literal["off", "normal", "full"] = "normal"
    """SQLite queue fsync policy. ``normal`` survives a crash of Shoal itself; ``full``
    also survives power loss at the cost of one fsync per commit (see docs/operations.md)."""
    store_memory_limit: str = Field(default_factory=lambda: default_memory_limit(), pattern=_SIZE)
    """DuckDB buffer-manager limit (default: a quarter of the machine's memory, at least
    512MB): identity's indexes must fit in it, about 1 GB per million profiles."""
    store_threads: int = 2
    store_checkpoint_threshold: str = Field(default="64MB", pattern=_SIZE)
    """Write-ahead log size at which DuckDB checkpoints (its default, 16MB, checkpointed
    every few rounds under load; see ``shoal.store.duckdb.CHECKPOINT_THRESHOLD``)."""

    dedupe_window_hours: int = Field(default=168, ge=24)
    """How long a messageId is remembered per source for deduplication (at least 24h)."""
    default_rate_limit: float | None = None
    """Events per second allowed per source when the source sets none; ``None`` = unlimited."""
    pipeline_batch_size: int = Field(default=5000, ge=1)
    """Most events the pipeline moves from the queue into the store in one bulk load."""
    pipeline_linger_ms: int = Field(default=50, ge=0, le=1000)
    """How long a small round waits for more events: every round costs a store commit, so
    under a stream of single-event requests this trades a few ms of latency for fewer,
    larger bulk loads."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Peers whose ``X-Forwarded-For`` is believed when filling ``context.ip``."""

    audiences_time_recheck_s: float = Field(default=300.0, gt=0)
    """How often real-time audiences whose result can change with time alone are re-checked."""
    destinations_allow_private_urls: bool = False
    """Let destinations send to loopback, link-local and private addresses (off: a webhook
    URL must not reach into the server's own network)."""
    destinations_allowed_networks: list[str] = Field(default_factory=list)
    """CIDR ranges destinations may reach even though they are private, e.g. ``127.0.0.0/8``."""
    destinations_retry_window_seconds: float = Field(default=14400.0, gt=0)
    """How long a failing delivery is retried before it goes to the dead-letter store (4 h)."""
    destinations_backoff_min_seconds: float = Field(default=1.0, gt=0)
    destinations_backoff_max_seconds: float = Field(default=300.0, gt=0)
    destinations_request_timeout_seconds: float = Field(default=30.0, gt=0)
    """Total time allowed for one request to a destination."""
    destinations_max_response_bytes: int = Field(default=65536, ge=1024)
    """Most bytes of a destination's answer that are read (and kept with a dead letter)."""
    destinations_poll_seconds: float = Field(default=1.0, gt=0)
    """How often idle destinations look for events when no wake-up arrived."""

    def resolved_control_url(self) -> str:
        """The control-plane database URL, defaulting into the data dir."""
        return self.control_url or f"sqlite:///{self.data_dir.resolve() / 'control.db'}"

    def resolved_queue_url(self) -> str:
        """The queue URL, defaulting to the embedded SQLite queue in the data dir."""
        return self.queue_url or f"sqlite:///{self.data_dir.resolve() / 'queue.db'}"

    def resolved_store_url(self) -> str:
        """The event-store URL, defaulting to the embedded DuckDB file in the data dir."""
        return self.store_url or f"duckdb:///{self.data_dir.resolve() / 'events.duckdb'}"


def default_memory_limit() -> str:
    """A quarter of physical memory, at least 512 MB: DuckDB keeps the identity tables'
    indexes in memory, and a limit below what they need fails queries (256 MB did at a
    million profiles)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1GB"
    return f"{max(512, total // 4 // (1 << 20))}MB"


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per invalid setting, naming its environment variable."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch":
            message = "expected a size above zero, such as 512MB, 1.5GB or 256MiB"
        lines.append(f"SHOAL_{field.upper()}={error.get('input')!s}: {message}")
    return lines
