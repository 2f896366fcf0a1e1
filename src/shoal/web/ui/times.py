"""Moments as the web app reads and shows them.

The control plane stores timestamps in UTC; SQLite hands them back without their zone, so
everything read from it goes through ``as_utc`` before it is compared or shown.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """``value`` with its zone: UTC when the database dropped it."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc(value: datetime | int | float | None) -> str:
    """A moment as pages show it, ``2025-05-01 14:03:09 UTC``: a datetime, or epoch
    milliseconds as the identity store keeps them (the ``utc`` template filter)."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return as_utc(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
