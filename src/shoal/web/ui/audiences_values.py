"""The words and values of the audience builder's click editor.

Every condition the editor can add (a *preset*: a kind of ``model.py`` with sensible first
values), the operators each place offers, and how a value typed into an input becomes the
JSON value of the tree and back. Inputs are plain text, so values follow one rule both
ways: ``3`` and ``2.5`` are numbers, ``true``/``false`` booleans, anything else text; quote
a text that would read otherwise (``'3'``). ``shown(read(x))`` gives ``x`` back for every
value the editor writes, so re-rendering the editor never changes the definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from shoal.audiences import model
from shoal.audiences.text import parse, to_text

Draft = dict[str, Any]

OP_LABELS = {
    "eq": "equals",
    "neq": "does not equal",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "regex": "matches the regex",
    "exists": "exists",
    "not_exists": "does not exist",
    "in": "is one of",
    "not_in": "is none of",
    "gt": "more than",
    "gte": "at least",
    "lt": "less than",
    "lte": "at most",
    "between": "between",
    "before": "before the date",
    "after": "after the date",
    "within_last": "within the last N days",
    "more_than_ago": "more than N days ago",
    "within_next": "within the next N days",
}
# Counts and aggregates compare with numbers only (model._check_count).
NUMBER_OPS = ("gte", "gt", "eq", "neq", "lte", "lt", "between")
TIME_OPS = (
    "within_last",
    "more_than_ago",
    "before",
    "after",
    "within_next",
    "exists",
    "not_exists",
)
DAY_OPS = frozenset({"within_last", "more_than_ago", "within_next"})
LIST_OPS = frozenset({"in", "not_in"})
TEXT_OPS = frozenset({"contains", "not_contains", "starts_with", "ends_with", "regex"})
NO_VALUE = frozenset({"exists", "not_exists"})
MEASURES = {
    "count": "count of events",
    "sum": "sum of property",
    "avg": "average of property",
    "min": "minimum of property",
    "max": "maximum of property",
    "distinct": "distinct values of property",
    "first": "first time",
    "last": "last time",
}
EVENT_TYPES = ("track", "page", "screen", "identify", "group", "any")
TYPE_OPTIONS = [
    ("track", "Track event"), ("page", "Page view"), ("screen", "Screen view"),
    ("identify", "Identify call"), ("group", "Group call"), ("any", "Any call"),
]  # fmt: skip
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
UNIT_OPTIONS = [(unit, unit) for unit in UNITS]


def _compare(kind: str) -> Callable[[], Draft]:
    return lambda: {"kind": kind, "name": "", "op": "eq", "value": ""}


def _event(**fields: Any) -> Callable[[], Draft]:
    return lambda: expand({"kind": "event", "event": "", **fields})


def _step() -> Draft:
    return {"type": "track", "event": "", "where": None}


# Preset name → (label in the "Add" menu, a fresh node). Grouped by where they may be added.
PRESETS: dict[str, tuple[str, Callable[[], Draft]]] = {
    "trait": ("Trait", _compare("trait")),
    "computed": ("Computed trait", _compare("computed")),
    "performed": ("Performed event (count)", _event(op="gte", value=1)),
    "not_performed": ("Did not perform event", _event(op="eq", value=0)),
    "aggregate": ("Sum / avg / min / max of a property", _event(measure="sum", property="")),
    "time": ("First / last time of an event", _event(measure="last", op="within_last", value=30)),
    "sequence": (
        "Sequence: A then (not) B within a time",
        lambda: {
            "kind": "sequence",
            "first": _step(),
            "then": _step(),
            "within_s": 3600,
            "followed": True,
            "window": None,
        },
    ),
    "audience": ("Member of audience", lambda: {"kind": "audience", "audience": ""}),
    "list": ("In static list", lambda: {"kind": "list", "list": ""}),
    "tag": ("Has tag", lambda: {"kind": "tag", "tag": ""}),
    "consent": ("Consented to", lambda: {"kind": "consent", "category": ""}),
    "account": (
        "Belongs to an account where…",
        lambda: {"kind": "account", "where": _compare("trait")()},
    ),
    "users": (
        "Has users where…",
        lambda: {"kind": "users", "where": _compare("trait")(), "op": "gte", "value": 1},
    ),
    "bucket": ("Random bucket (holdout, split)", lambda: {"kind": "bucket", "start": 0, "end": 10}),
    "any": ("Group: any of…", lambda: {"kind": "any", "any": []}),
    "all": ("Group: all of…", lambda: {"kind": "all", "all": []}),
    "property": ("Event property", _compare("property")),
}
_COMMON = ("trait", "computed", "performed", "not_performed", "aggregate", "time", "sequence")
_MEMBERSHIP = ("audience", "list", "tag", "consent")


def presets_for(context: str) -> list[tuple[str, str]]:
    """``(preset, label)`` of what may be added where ``context`` is ``"where"`` (inside an
    event's filter), ``users``, ``accounts`` or an object collection."""
    if context == "where":
        names: tuple[str, ...] = ("property", "any", "all")
    elif context == model.USERS:
        names = (*_COMMON, *_MEMBERSHIP, "account", "bucket", "any", "all")
    elif context == model.ACCOUNTS:
        names = (*_COMMON, *_MEMBERSHIP, "users", "bucket", "any", "all")
    else:  # objects: their attributes are traits; no consent, accounts or users
        names = (*_COMMON, "audience", "list", "tag", "bucket", "any", "all")
    return [(name, PRESETS[name][0]) for name in names]


def expand(node: Draft) -> Draft:
    """A node with the defaults ``to_builtins`` leaves out written in, so the editor can show
    every field (children are expanded as the editor reaches them)."""
    kind = node.get("kind")
    if isinstance(node.get("window"), dict):
        node = {
            **node,
            "window": {"last_days": None, "since": None, "until": None, **node["window"]},
        }
    if kind == "event":
        defaults = {"type": "track", "event": None, "where": None, "window": None,
                    "measure": "count", "property": None, "op": "gte", "value": 1}  # fmt: skip
        return {**defaults, **node}
    if kind == "sequence":
        step = {"type": "track", "event": None, "where": None}
        steps = {k: {**step, **node[k]} for k in ("first", "then")}
        return {"followed": True, "window": None, **node, **steps}
    if kind == "users":
        return {"op": "gte", "value": 1, **node}
    return node


def ops_for(node: Draft) -> tuple[str, ...]:
    """The operators offered for a node: numbers for counts and aggregates, date operators
    for first/last times, every operator for traits and properties."""
    kind = node.get("kind")
    if kind == "users" or (kind == "event" and node.get("measure") not in model.TIME_MEASURES):
        return NUMBER_OPS
    if kind == "event":
        return TIME_OPS
    return tuple(OP_LABELS)


def op_options(node: Draft) -> list[tuple[str, str]]:
    """``(op, words)`` for a node's operator select."""
    return [(op, OP_LABELS[op]) for op in ops_for(node)]


def bound(value: Any, index: int) -> Any:
    """One end of a ``between`` value (``None`` when the value is not a pair yet)."""
    return value[index] if isinstance(value, list) and len(value) > index else None


_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def literal(raw: str) -> Any:
    """A typed value: a number, ``true``/``false``, a quoted text unquoted, else the text."""
    text = raw.strip()
    if text in ("true", "false"):
        return text == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        number = float(text)
        return number if number not in (float("inf"), float("-inf")) else text
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        # The text form's own string syntax (escapes included), read by its parser.
        try:
            node = parse(f"trait('v') = {text}")
        except model.DefinitionError:
            return text
        if isinstance(node, model.Trait) and isinstance(node.value, str):
            return node.value
    return text


def shown(value: Any) -> str:
    """A value as its input shows it; ``literal(shown(v)) == v`` for texts, numbers and
    booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        # An empty text is written '' in a list, where a bare empty item would vanish.
        return ", ".join(shown(v) or "''" for v in value)
    text = str(value)
    if literal(text) == text and "," not in text and text.isprintable():
        return text
    return to_text(model.Trait(name="v", op="eq", value=text)).removeprefix("trait('v') = ")


def split_list(raw: str) -> list[str]:
    """``a, 'b, c', d`` → the three items (commas inside quotes stay)."""
    items = re.findall(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,]*)\s*(?:,|$)""", raw)
    return [item for item in items if item.strip()]


def read(op: str, raw: str, raw_hi: str = "", numeric: bool = False) -> Any:
    """The JSON value of what was typed for ``op``. Values that do not fit stay as typed so
    the definition's check can say what is wrong next to the condition."""
    if op in NO_VALUE:
        return None
    if op == "between":
        return [literal(raw), literal(raw_hi)]
    if op in LIST_OPS:
        return [literal(item) for item in split_list(raw)]
    if op in DAY_OPS or op in ("gt", "gte", "lt", "lte") or numeric:
        return literal(raw)
    if op in TEXT_OPS or op in ("before", "after"):
        return raw
    return literal(raw)


def duration(seconds: int) -> tuple[int, str]:
    """A sequence's time limit in the largest whole unit (7200 → ``(2, "hours")``)."""
    for unit, size in reversed(UNITS.items()):
        if seconds and seconds % size == 0:
            return seconds // size, unit
    return seconds, "seconds"
