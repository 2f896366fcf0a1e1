"""ISO-8601 parsing and formatting in UTC milliseconds, the unit events are stored in."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_ms(value: object) -> int | None:
    """Parse an ISO-8601 string (with ``Z`` or an offset) into UTC epoch milliseconds.

    Returns ``None`` for anything that is not a parseable timestamp string, so callers can
    fall back the way Segment does. A string without a zone is taken as UTC.

    Example:
        >>> parse_ms("1970-01-01T00:00:01.500Z")
        1500
    """
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    # Events of one round share a handful of seconds; strftime was the pipeline's top cost.
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_ms(ms: int) -> str:
    """Format UTC epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    Example:
        >>> format_ms(1500)
        '1970-01-01T00:00:01.500Z'
    """
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


def now_ms() -> int:
    """The current time in UTC epoch milliseconds."""
    return int(datetime.now(UTC).timestamp() * 1000)
