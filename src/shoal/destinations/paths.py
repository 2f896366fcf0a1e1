"""Dot paths into a message: ``properties.total``, ``context.app.version``, ``$.a.b``.

A ``.`` or ``\\`` inside a name is escaped with ``\\`` (``properties.a\\.b`` is the key
``a.b``); a digit name indexes a list. A path that leads nowhere finds ``missing``.
"""

from __future__ import annotations

import functools
from typing import Any

_MISSING = object()


@functools.lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str, ...]:
    """The names in a dot path; ``\\.`` and ``\\\\`` stand for a literal dot and backslash."""
    path = path.removeprefix("$").removeprefix(".")
    if not path:
        return ()
    if "\\" not in path:
        return tuple(path.split("."))
    names, current, i = [], [], 0
    while i < len(path):
        char = path[i]
        if char == "\\" and i + 1 < len(path):
            current.append(path[i + 1])
            i += 2
            continue
        if char == ".":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    names.append("".join(current))
    return tuple(names)


def join_path(names: tuple[str, ...] | list[str]) -> str:
    """The dot path of ``names`` (the inverse of :func:`split_path`)."""
    path = ".".join(n.replace("\\", "\\\\").replace(".", "\\.") for n in names)
    # A leading "$" would read as the "$." prefix of a JSON path.
    return "\\" + path if path.startswith("$") else path


def lookup(message: dict[str, Any], path: str) -> Any:
    """The value at a dot path (``$.a.b`` or ``a.b``), or ``_MISSING``."""
    value: Any = message
    for part in split_path(path):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def missing(value: object) -> bool:
    """Whether ``lookup`` found nothing."""
    return value is _MISSING
