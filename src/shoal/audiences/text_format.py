"""The printer of the audience text form: ``to_text`` (re-exported by ``text.py``), and the
keyword tables the parser shares with it so both sides spell the grammar the same way."""

from __future__ import annotations

import math
from typing import Any

from shoal.audiences.model import (
    PROPERTY_MEASURES,
    Account,
    All,
    AnyOf,
    Bucket,
    Computed,
    Condition,
    Consent,
    DefinitionError,
    Event,
    EventType,
    InList,
    Member,
    Not,
    Op,
    Property,
    Sequence,
    Step,
    Tagged,
    Trait,
    Users,
    Window,
)
from shoal.audiences.tokens import OP_TEXT, quote

SELECTORS: dict[str, EventType] = {
    "event": "track", "page": "page", "screen": "screen", "identify": "identify",
    "group": "group", "any": "any",
}  # fmt: skip
_SELECTOR_WORD = {kind: word for word, kind in SELECTORS.items()}
# Largest first: the printer picks the largest unit that divides the time exactly.
UNITS = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}

_COMPARE_WORD: dict[type, str] = {Trait: "trait", Computed: "computed", Property: "property"}
_NAMED_WORD: dict[type, str] = {
    Member: "audience",
    InList: "list",
    Tagged: "tag",
    Consent: "consent",
}

# Where a node is printed, which decides whether an 'and'/'or' list needs parentheses:
# anywhere (top, inside parentheses or a function), an 'or' item, an 'and' item, after 'not'.
_TOP, _OR, _AND, _NOT = range(4)


def to_text(node: Condition) -> str:
    """The canonical text of a condition tree: ``parse(to_text(tree)) == tree`` for every
    tree ``model.validate`` accepts. Raises ``DefinitionError`` for the few invalid trees
    the text cannot express (a track event without a name, a non-finite number, ...)."""
    return _node(node, _TOP)


def _cannot(what: str) -> DefinitionError:
    return DefinitionError(f"this definition cannot be written as text: {what}")


def _node(node: Condition, where: int) -> str:
    if isinstance(node, All | AnyOf):
        items, joiner = (node.all, " and ") if isinstance(node, All) else (node.any, " or ")
        word = "all" if isinstance(node, All) else "any"
        if not items:
            return "everyone" if word == "all" else "nobody"
        if len(items) == 1:  # 'a' alone would parse back as the bare condition
            return f"{word} of ({_node(items[0], _TOP)})"
        # Items of the same kind keep their parentheses so that nesting survives the round
        # trip; 'and' binds tighter than 'or', so an 'and' list inside 'or' needs none.
        inner = _AND if word == "all" else _OR
        text = joiner.join(_node(item, inner) for item in items)
        bare = where == _TOP or (where == _OR and word == "all")
        return text if bare else f"({text})"
    if isinstance(node, Not):
        return "not " + _node(node.not_, _NOT)
    if isinstance(node, Trait | Computed | Property):
        word = _COMPARE_WORD[type(node)]
        return f"{word}({quote(_text(node.name))}) {_comparison(node.op, node.value)}"
    if isinstance(node, Event):
        return _event(node)
    if isinstance(node, Sequence):
        first = _step(node.first) + _window(node.window)
        then = ("" if node.followed else "not ") + _step(node.then)
        return f"{first} then {then} within {_duration(node.within_s)}"
    if isinstance(node, Member | InList | Tagged | Consent):
        # Each of these structs has one field, the name.
        name = getattr(node, type(node).__struct_fields__[0])
        return f"{_NAMED_WORD[type(node)]}({quote(_text(name))})"
    if isinstance(node, Account):
        return f"account({_node(node.where, _TOP)})"
    if isinstance(node, Users):
        text = f"users({_node(node.where, _TOP)})"
        if node.op == "gte" and _is_one(node.value):
            return text
        return f"{text}.count() {_comparison(node.op, node.value)}"
    if isinstance(node, Bucket):
        return f"bucket({_integer(node.start)}, {_integer(node.end)})"
    raise _cannot(f"unknown node {node!r}")


def _is_one(value: Any) -> bool:
    # Exactly the int 1: a count ">= 1.0" or ">= True" must keep its own value.
    return type(value) is int and value == 1


def _event(node: Event) -> str:
    text = _selector(node.type, node.event) + _where(node.where) + _window(node.window)
    if node.measure == "count" and node.op == "gte" and _is_one(node.value) and not node.property:
        return text  # the shorthand: "performed at least once"
    if (node.measure in PROPERTY_MEASURES) != (node.property is not None):
        raise _cannot(f"the measure {node.measure!r} with the property {node.property!r}")
    argument = quote(node.property) if node.property is not None else ""
    return f"{text}.{node.measure}({argument}) {_comparison(node.op, node.value)}"


def _step(step: Step) -> str:
    return _selector(step.type, step.event) + _where(step.where)


def _selector(kind: str, name: str | None) -> str:
    if kind not in _SELECTOR_WORD or (kind == "track" and name is None):
        raise _cannot(f"an event of type {kind!r} named {name!r}")
    return f"{_SELECTOR_WORD[kind]}({'' if name is None else quote(_text(name))})"


def _where(where: Condition | None) -> str:
    return "" if where is None else f".where({_node(where, _TOP)})"


def _window(window: Window | None) -> str:
    if window is None:
        return ""
    last, since, until = window.last_days, window.since, window.until
    if last is not None and since is None and until is None:
        return f".within({_days(last)})"
    if last is None and since is not None and until is not None:
        return f".between({quote(_text(since))}, {quote(_text(until))})"
    if last is None and since is not None:
        return f".since({quote(_text(since))})"
    if last is None and until is not None:
        return f".until({quote(_text(until))})"
    raise _cannot(f"the window {window!r}")


def _duration(seconds: int) -> str:
    _integer(seconds)
    for unit, size in UNITS.items():
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    raise AssertionError("a second divides every whole number")


def _days(days: Any) -> str:
    return f"{_integer(days)} day" + ("" if days == 1 else "s")


def _comparison(op: Op, value: Any) -> str:
    if op not in OP_TEXT:
        raise _cannot(f"the operator {op!r}")
    words = OP_TEXT[op]
    if op in ("exists", "not_exists"):
        if value is not None:
            raise _cannot(f"'{words}' with the value {value!r}")
        return words
    if op == "between":
        if not (isinstance(value, list | tuple) and len(value) == 2):
            raise _cannot(f"'between' with the value {value!r}")
        return f"between {_number(value[0])} and {_number(value[1])}"
    if op in ("in", "not_in"):
        if not isinstance(value, list | tuple) or not value:
            raise _cannot(f"'{words}' with the value {value!r}")
        return f"{words} [{', '.join(_value(item) for item in value)}]"
    if op in ("within_last", "within_next"):
        return f"{words} {_days(value)}"
    if op == "more_than_ago":
        return f"more than {_days(value)} ago"
    if op in ("gt", "gte", "lt", "lte"):
        return f"{words} {_number(value)}"
    if op in ("eq", "neq"):
        return f"{words} {_value(value)}"
    return f"{words} {quote(_text(value))}"  # contains, matches, before, ...: texts only


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    return _number(value)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _cannot(f"{value!r} is not a number")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise _cannot(f"{value!r} is not a finite number")
    return repr(value)  # the shortest text that reads back as exactly this float


def _integer(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _cannot(f"{value!r} is not a whole number")
    return str(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _cannot(f"{value!r} is not a text")
    return value
