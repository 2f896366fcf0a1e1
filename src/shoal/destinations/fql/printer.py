"""A condition tree as canonical FQL text: fields first, double quotes, nested groups in
parentheses. ``parse(to_fql(tree)) == tree`` for every tree whose values FQL can write."""

from __future__ import annotations

import json
import math
from typing import Any

from shoal.destinations.conditions import AnyNode, Condition, Not, Trigger
from shoal.destinations.fql.lexer import KEYWORDS, NAME_CHARS
from shoal.destinations.fql.parser import ALL
from shoal.destinations.functions import glob_escape
from shoal.destinations.paths import split_path

_SYMBOLS = {"is": "=", "is_not": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class Unprintable(ValueError):
    """A tree holding a value FQL cannot write (an object, a non-finite number)."""


def to_fql(trigger: Trigger) -> str:
    """The FQL statement of a trigger (``all`` for an empty one)."""
    if not trigger.conditions:
        return ALL
    return _join(trigger)


def fql_or_none(trigger: Trigger) -> str | None:
    """``to_fql``, or ``None`` when the tree has values FQL cannot write."""
    try:
        return to_fql(trigger)
    except Unprintable:
        return None


def shown(item: dict[str, Any], tree_key: str) -> dict[str, Any]:
    """A stored filter (``tree_key="if"``) or mapping (``"trigger"``) with its FQL text
    added as ``fql`` (``None`` when FQL cannot write it)."""
    try:
        tree = Trigger.model_validate(item.get(tree_key) or {})
    except ValueError:  # pydantic's ValidationError too: a tree stored by an older release
        return {**item, "fql": None}
    return {**item, "fql": fql_or_none(tree)}


def _join(group: Trigger) -> str:
    word = " and " if group.match == "all" else " or "
    return word.join(_node(child, nested=True) for child in group.conditions)


def _node(node: AnyNode, nested: bool) -> str:
    if isinstance(node, Trigger):
        text = _join(node)
        return f"({text})" if nested else text
    if isinstance(node, Not):
        inner = node.not_
        if isinstance(inner, Condition) and _is_call(inner):
            return "!" + _condition(inner)
        if isinstance(inner, Trigger):
            return "!" + _node(inner, nested=True)
        return f"!({_node(inner, nested=False)})"
    return _condition(node)


def _is_call(condition: Condition) -> bool:
    return condition.op in ("contains", "not_contains", "starts_with", "ends_with", "match")


def _condition(c: Condition) -> str:
    subject = f"{c.fn}({path(c.field)})" if c.fn else path(c.field)
    op, value = c.op, c.value
    if op in _SYMBOLS:
        return f"{subject} {_SYMBOLS[op]} {literal(value)}"
    calls = {
        "contains": f"contains({subject}, {literal(value)})",
        "not_contains": f"!contains({subject}, {literal(value)})",
        "starts_with": f"match({subject}, {literal(glob_escape(str(value)) + '*')})",
        "ends_with": f"match({subject}, {literal('*' + glob_escape(str(value)))})",
        "match": f"match({subject}, {literal(value)})",
    }
    if op in calls:
        return calls[op]
    if op in ("exists", "not_exists"):
        return f"{subject} {'!=' if op == 'exists' else '='} null"
    if op == "in":
        return f"{subject} in {literal(value)}"
    if op == "not_in":
        return f"!({subject} in {literal(value)})"
    return f"{literal(value)} in {subject}"  # includes


def path(field: str) -> str:
    """A tree's field as an FQL path, escaping what FQL's names cannot hold."""
    names = split_path(field)
    out = []
    for index, name in enumerate(names):
        escaped = "".join(c if c in NAME_CHARS else "\\" + c for c in name)
        # A first name that would read as a number or a keyword is escaped at its start.
        first = name[0]
        if index == 0 and first in NAME_CHARS and (first in "-0123456789" or name in KEYWORDS):
            escaped = "\\" + escaped
        out.append(escaped)
    return ".".join(out)


def literal(value: Any) -> str:
    """An FQL literal: string, number, true/false/null, or a list of those."""
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        raise Unprintable(f"FQL has no literal for {value!r}")
    if value is None or isinstance(value, bool | int | float | str):
        return json.dumps(value, ensure_ascii=False)
    raise Unprintable(f"FQL has no literal for a {type(value).__name__} value")
