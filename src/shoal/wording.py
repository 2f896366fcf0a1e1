"""How counts read in messages to people: "1 event", "2 events", "1,200 profiles"."""

from __future__ import annotations


def noun_for(count: int, noun: str, plural: str | None = None) -> str:
    """``noun`` in the number ``count`` takes (``plural`` defaults to noun + "s")."""
    return noun if count == 1 else (plural or noun + "s")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with ``noun`` in the number it takes: "1 event", "2,000 events"."""
    return f"{count:,} {noun_for(count, noun, plural)}"
