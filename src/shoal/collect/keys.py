"""Write key → source, served from memory on the hot path.

The cache is rebuilt when the control plane reports a change, and a key it does not know
is looked up again at most every few seconds (another process may have created it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from shoal.control import ControlPlane

_MISS_RECHECK = 2.0


@dataclass(frozen=True, slots=True)
class SourceKey:
    """What the edge needs to know about the source a write key belongs to."""

    id: str
    workspace_id: str
    environment: str
    enabled: bool
    rate_limit: float | None


class WriteKeys:
    """An in-memory map of write keys, kept current from the control plane."""

    def __init__(self, control: ControlPlane) -> None:
        self._control = control
        self._keys: dict[str, SourceKey] = {}
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        control.on_sources_changed(self.reload)

    def reload(self) -> None:
        """Read every source's write key again."""
        keys = {
            source.write_key: SourceKey(
                source.id,
                source.workspace_id,
                source.environment,
                source.enabled,
                source.rate_limit,
            )
            for source in self._control.list_sources(None)
        }
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()

    def lookup(self, write_key: str) -> SourceKey | None:
        """The source for ``write_key``, or ``None`` if no source has it."""
        found = self._keys.get(write_key)
        if found is None and time.monotonic() - self._loaded_at > _MISS_RECHECK:
            self.reload()
            found = self._keys.get(write_key)
        return found
