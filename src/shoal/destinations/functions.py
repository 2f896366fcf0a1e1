"""FQL's value functions and glob matching, with Segment's null-tolerant defaults.

``length(null)`` is 0, ``lowercase(null)`` is null and ``match(null, ...)`` is false, so
``length(userId) > 0`` needs no ``typeof`` guard. A missing field counts as null.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, Literal, get_args

Fn = Literal[
    "length",
    "lowercase",
    "uppercase",
    "snakecase",
    "kebabcase",
    "titlecase",
    "typeof",
    "bool",
    "string",
    "number",
]
FUNCTIONS: tuple[str, ...] = get_args(Fn)
PREDICATES = ("contains", "match")
"""Functions that are conditions by themselves (they answer true or false)."""
GLOB_SPECIALS = frozenset("*?[]\\")


def text_of(value: Any) -> str:
    """A value as text the way FQL prints it (``true``, ``3``, ``["a"]``), strings as is."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _length(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):
        # Segment counts bytes, not characters ("ア" is 3).
        return len(value.encode())
    if isinstance(value, list):
        return len(value)
    return None


def _text_only(change: Callable[[str], str]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        return change(value) if isinstance(value, str) else None

    return apply


def _typeof(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        # "false" and "0" are the strings people mean as false; the rest by emptiness.
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)


def _string(value: Any) -> str:
    return "" if value is None else text_of(value)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in value else number
    return None


_APPLY: dict[str, Callable[[Any], Any]] = {
    "length": _length,
    "lowercase": _text_only(str.lower),
    "uppercase": _text_only(str.upper),
    "snakecase": _text_only(lambda s: s.replace(" ", "_")),
    "kebabcase": _text_only(lambda s: s.replace(" ", "-")),
    "titlecase": _text_only(str.title),
    "typeof": _typeof,
    "bool": _bool,
    "string": _string,
    "number": _number,
}


def apply_function(name: str, value: Any) -> Any:
    """``name(value)`` for a value function; ``value`` is ``None`` for a missing field."""
    return _APPLY[name](value)


def glob_escape(literal: str) -> str:
    """A glob pattern matching exactly ``literal``."""
    return "".join("\\" + c if c in GLOB_SPECIALS else c for c in literal)


def glob_literal(pattern: str) -> str | None:
    """The text a pattern without wildcards matches, or ``None`` if it has wildcards."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        if char in "*?[":
            return None
        out.append(char)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "*":
            parts.append(".*")
            i += 1
        elif char == "?":
            parts.append(".")
            i += 1
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body[0] in "!^"
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
            klass = f"[{'^' if negate else ''}{escaped}]"
            try:
                re.compile(klass)
            except re.error:
                # A class Python cannot read (say [z-a]) is taken literally, never raised.
                parts.append(re.escape(char))
                i += 1
                continue
            parts.append(klass)
            i = end + 1
        else:
            # A "[" without its "]" is an ordinary character, as in most globs.
            parts.append(re.escape(char))
            i += 1
    return re.compile("".join(parts), re.DOTALL)


def glob_match(text: str, pattern: str) -> bool:
    """Whether ``pattern`` (``*``, ``?``, ``[abc]``, ``[a-z]``, ``\\x``) matches all of ``text``."""
    return _glob_regex(pattern).fullmatch(text) is not None
