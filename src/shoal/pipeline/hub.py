"""Wakes live readers (the debugger stream) when the pipeline has stored their events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class EventHub:
    """Per-source wake-ups; readers then fetch what is new from the store."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._all: set[asyncio.Event] = set()

    def subscribe(self, source_id: str) -> asyncio.Event:
        """An event that is set whenever ``source_id`` has new stored events."""
        event = asyncio.Event()
        self._waiters.setdefault(source_id, set()).add(event)
        return event

    def unsubscribe(self, source_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(source_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[source_id]

    def subscribe_all(self) -> asyncio.Event:
        """An event that is set after every store write, whatever the source (delivery)."""
        event = asyncio.Event()
        self._all.add(event)
        return event

    def unsubscribe_all(self, event: asyncio.Event) -> None:
        """Stop waking ``event`` (from ``subscribe_all``)."""
        self._all.discard(event)

    def notify(self, source_ids: Iterable[str]) -> None:
        """Wake every reader of these sources."""
        for event in self._all:
            event.set()
        for source_id in set(source_ids):
            for event in self._waiters.get(source_id, ()):
                event.set()

    def wake_all(self) -> None:
        """Wake every reader (at shutdown, so streams can end)."""
        for event in self._all:
            event.set()
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()
