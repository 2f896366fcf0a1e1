"""Per-destination delivery metrics: counters, retry gauge, latency and last error."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shoal.destinations.ledger import State

LATENCY_SAMPLES = 4096


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


@dataclass
class Metrics:
    """Totals are lifetime (persisted with the cursor); latency covers recent deliveries."""

    delivered: int = 0
    failed: int = 0
    filtered: int = 0
    retrying: int = 0
    """Payloads waiting for their next attempt right now."""
    in_flight: int = 0
    requests: int = 0
    retries: int = 0
    last_status: int | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None
    blocked_since: float | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def load(self, state: State) -> None:
        """Start from the persisted lifetime counters."""
        self.delivered, self.failed, self.filtered = state.delivered, state.failed, state.filtered
        self.last_error, self.last_error_at = state.last_error, state.last_error_at
        self.last_success_at = state.last_success_at

    def counters(self) -> dict[str, int]:
        """What is persisted when the cursor moves."""
        return {"delivered": self.delivered, "failed": self.failed, "filtered": self.filtered}

    def success(self, count: int, received_ms: list[int], status: int | None) -> None:
        """Record ``count`` delivered payloads accepted ``received_ms`` (epoch ms)."""
        now_ms = time.time() * 1000
        self.delivered += count
        self.latencies_ms.extend(max(0.0, now_ms - r) for r in received_ms)
        self.last_status = status
        self.last_success_at = datetime.now(UTC)
        self.blocked_since = None

    def error(self, message: str, status: int | None) -> None:
        """Record a failed attempt."""
        self.last_status = status
        self.last_error = message[:1000]
        self.last_error_at = datetime.now(UTC)

    def snapshot(self) -> dict[str, Any]:
        """The API's view."""
        latencies = list(self.latencies_ms)
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "filtered": self.filtered,
            "retrying": self.retrying,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "retries": self.retries,
            "latency_ms": {
                "samples": len(latencies),
                "p50": _percentile(latencies, 50),
                "p95": _percentile(latencies, 95),
                "max": round(max(latencies), 1) if latencies else None,
            },
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_success_at": self.last_success_at,
            "blocked_for_s": (
                round(time.monotonic() - self.blocked_since, 1) if self.blocked_since else None
            ),
        }
