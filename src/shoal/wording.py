"""How counts read in messages to people: "1 event", "2 events", "1,200 profiles"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with ``noun`` in the number it takes (``plural`` defaults to noun + "s")."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"
