"""Helpers shared by vendor adapters: times, identity directives, hashing of identifiers."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

USER_OR_ANONYMOUS: dict[str, Any] = {
    "@if": {
        "exists": {"@path": "$.userId"},
        "then": {"@path": "$.userId"},
        "else": {"@path": "$.anonymousId"},
    }
}
"""Directive: the userId, else the anonymousId."""


def trait(name: str) -> dict[str, Any]:
    """Directive: a trait from identify ``traits``, else from ``context.traits``."""
    return {
        "@if": {
            "exists": {"@path": f"$.traits.{name}"},
            "then": {"@path": f"$.traits.{name}"},
            "else": {"@path": f"$.context.traits.{name}"},
        }
    }


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (Segment's timestamps) as an aware datetime, or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_seconds(value: Any) -> int:
    """Unix seconds of a timestamp (now when missing or unreadable)."""
    parsed = parse_time(value)
    return int(parsed.timestamp()) if parsed else int(time.time())


def epoch_ms(value: Any) -> int:
    """Unix milliseconds of a timestamp (now when missing or unreadable)."""
    parsed = parse_time(value)
    return int(parsed.timestamp() * 1000) if parsed else int(time.time() * 1000)


def normalize_email(value: str) -> str:
    """Trimmed and lower-cased, as ad platforms require before hashing."""
    return value.strip().lower()


def normalize_phone(value: str) -> str:
    """Digits only, country code included (ad platforms' rule before hashing)."""
    return re.sub(r"\D", "", value)


def sha256(value: str) -> str:
    """Hex SHA-256 of a normalized identifier."""
    return hashlib.sha256(value.encode()).hexdigest()


def hashed(value: Any, kind: str) -> str | None:
    """Normalize and hash an identifier; already-hashed values (64 hex chars) pass as is."""
    if not isinstance(value, str) or not value.strip():
        return None
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return value
    norm = {"email": normalize_email, "phone": normalize_phone}.get(kind, str.strip)(value)
    return sha256(norm) if norm else None
