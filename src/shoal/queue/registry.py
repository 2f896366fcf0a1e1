"""Queue backends by URL scheme; built-ins register the same way a plugin does."""

from __future__ import annotations

from shoal.plugins import Registry
from shoal.queue.base import Queue

QUEUES: Registry[Queue] = Registry("queues")
QUEUES.register("sqlite", "shoal.queue.sqlite:SQLiteQueue.from_url")


def open_queue(url: str, **options: object) -> Queue:
    """Build the queue backend that ``url``'s scheme names (not yet started)."""
    scheme = url.split(":", 1)[0]
    return QUEUES.get(scheme)(url, **options)
