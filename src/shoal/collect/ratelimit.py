"""Per-source token buckets: a source over its rate gets 429 with ``Retry-After``."""

from __future__ import annotations

import math
import time


class TokenBucket:
    """``rate`` events per second with a burst of one second's worth (at least 100)."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(rate, 100.0)
        self.tokens = self.burst
        self.updated = time.monotonic()

    def take(self, count: int) -> float:
        """Take ``count`` tokens; return 0 on success, else seconds until they would exist."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if count <= self.tokens:
            self.tokens -= count
            return 0.0
        needed = min(count, self.burst) - self.tokens
        return max(needed / self.rate, 0.001)


class RateLimiter:
    """Buckets per source id, rebuilt when a source's rate changes."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, source_id: str, rate: float | None, count: int) -> int:
        """0 when allowed, else the whole seconds to wait (for ``Retry-After``)."""
        if rate is None or rate <= 0:
            return 0
        bucket = self._buckets.get(source_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[source_id] = TokenBucket(rate)
        wait = bucket.take(count)
        return math.ceil(wait) if wait else 0
