"""The event store: where normalized events land, deduplicated, for the debugger and audiences.

Backends register by URL scheme; ``open_store(url)`` picks one. The embedded default is a
DuckDB file owned by one writer thread (``duckdb:///path``).
"""

from shoal.store.base import EventQuery, EventStore, StoreCapabilities, StoredEvent, WriteResult
from shoal.store.registry import STORES, open_store

__all__ = [
    "STORES",
    "EventQuery",
    "EventStore",
    "StoreCapabilities",
    "StoredEvent",
    "WriteResult",
    "open_store",
]
