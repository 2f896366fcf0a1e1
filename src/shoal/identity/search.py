"""Find stored events that may carry an identifier value, by searching their JSON text.

Per-profile re-resolution must find every stored event that carries one of a profile's
identifier values, under rules that may read new places of the message. Extracting the
identifiers of every stored event would cost as much as a full replay, so the stored JSON
(``extra``, ``properties``, ``traits``, ``context``) is searched for the value as a JSON
token first, by DuckDB, and only the hits are extracted and checked. The search may find
too much (the same text elsewhere), never too little, as long as the value is stored the
way identifiers read it: a JSON string holding the value with any surrounding whitespace
(identifiers are stripped), or a JSON number that reads as the value.
"""

from __future__ import annotations

import re

import msgspec

_ENCODE = msgspec.json.Encoder().encode
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_PAD = r"(?:\s|\pZ|\x{85}|\\[bfnrt]|\\u00[0-9A-Fa-f]{2})*"
"""What ``str.strip`` removes, as it may appear inside a JSON string."""
_NOT_NUMBER = r"[^0-9A-Za-z.+\-]"
GROUP = 200
"""Values per regular expression (RE2 refuses programs past its memory budget)."""


def _literal(text: str) -> str:
    """``text`` as an RE2 pattern that matches it literally (every other character as a
    ``\\x{…}`` code point, so nothing is read as syntax)."""
    return "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"\\x{{{ord(ch):x}}}" for ch in text
    )


def value_pattern(value: str) -> str:
    """An RE2 pattern matching the JSON text of any stored value that reads as ``value``."""
    inner = _ENCODE(value).decode()[1:-1]
    options = [f'"{_PAD}{_literal(inner)}{_PAD}"']
    if _NUMBER.fullmatch(value):
        # A number is read as ``str(number)``; its JSON spelling may differ (1e+16 / 1e16).
        spellings = {value, _ENCODE(float(value)).decode()}
        if re.fullmatch(r"-?\d+", value):
            spellings.add(_ENCODE(int(value)).decode())
        for spelling in sorted(spellings):
            options.append(f"(?:^|{_NOT_NUMBER}){_literal(spelling)}(?:{_NOT_NUMBER}|$)")
    return "|".join(f"(?:{option})" for option in options)


def patterns(values: list[str]) -> list[str]:
    """RE2 patterns (one per ``GROUP`` values) that together match any of ``values``."""
    return [
        "|".join(value_pattern(v) for v in values[start : start + GROUP])
        for start in range(0, len(values), GROUP)
    ]
