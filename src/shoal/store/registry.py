"""Event-store backends by URL scheme; built-ins register the same way a plugin does."""

from __future__ import annotations

from shoal.plugins import Registry
from shoal.store.base import EventStore

STORES: Registry[EventStore] = Registry("stores")
STORES.register("duckdb", "shoal.store.duckdb:DuckDBStore.from_url")


def open_store(url: str, **options: object) -> EventStore:
    """Build the store backend that ``url``'s scheme names (not yet started)."""
    scheme = url.split(":", 1)[0]
    return STORES.get(scheme)(url, **options)
