"""Audience definitions: a typed condition tree, stored as JSON with a ``kind`` on every node.

The tree is the one source of truth: the text form (``text.py``) parses to it and prints
from it, the compiler (``compiler.py``) turns it into SQL for every dialect, and the tests'
reference evaluator reads it directly. Semantics every consumer follows:

* A comparison on a missing or ``null`` value is false. The negative operators (``neq``,
  ``not_contains``, ``not_in``, ``not_exists``) are exactly the negation of their positive
  twin, so they are true for a missing value ("plan != 'pro'" includes profiles without a
  plan).
* Numbers compare numerically (values that are not numbers never match a numeric operator),
  strings case-sensitively, booleans as ``true``/``false``. Dates are ISO-8601 strings; one
  without an offset is UTC.
* Event counts, sums and distinct counts of no events are 0; averages, minimums, maximums
  and first/last times of no events are missing.
* An event window of the last N days keeps events with ``timestamp >= now - N days``; a
  window between dates keeps ``since <= timestamp < until``.
* Date operators on a time ``t`` (a date trait or property, or an event's first/last time):
  ``before d``: ``t < d``; ``after d``: ``t > d``; ``within_last N``: ``now - N days <= t <=
  now``; ``more_than_ago N``: ``t < now - N days``; ``within_next N``: ``now <= t <= now + N
  days``.
* "Not performed in the last N days" (a count ``= 0``) includes profiles younger than N days;
  add ``any().first() more than N days ago`` to leave them out.
* Trait, property and consent names with dots address nested keys (``address.city``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Literal

import msgspec

DAY_MS = 86_400_000
MAX_DEPTH = 12
MAX_NODES = 200
MAX_TEXT = 1000

StringOp = Literal[
    "eq", "neq", "contains", "not_contains", "starts_with", "ends_with", "regex",
    "exists", "not_exists", "in", "not_in",
]  # fmt: skip
NumberOp = Literal["gt", "gte", "lt", "lte", "between"]
DateOp = Literal["before", "after", "within_last", "more_than_ago", "within_next"]
Op = Literal[
    "eq", "neq", "contains", "not_contains", "starts_with", "ends_with", "regex",
    "exists", "not_exists", "in", "not_in", "gt", "gte", "lt", "lte", "between",
    "before", "after", "within_last", "more_than_ago", "within_next",
]  # fmt: skip
NEGATIVE: dict[str, str] = {
    "neq": "eq",
    "not_contains": "contains",
    "not_in": "in",
    "not_exists": "exists",
}
NUMERIC_OPS = frozenset({"gt", "gte", "lt", "lte", "between"})
DATE_OPS = frozenset({"before", "after", "within_last", "more_than_ago", "within_next"})
EventType = Literal["track", "page", "screen", "identify", "group", "any"]
Measure = Literal["count", "sum", "avg", "min", "max", "distinct", "first", "last"]
PROPERTY_MEASURES = frozenset({"sum", "avg", "min", "max", "distinct"})
TIME_MEASURES = frozenset({"first", "last"})
Collection = str
USERS, ACCOUNTS = "users", "accounts"


class DefinitionError(ValueError):
    """A definition that cannot be evaluated, with a message for the person who wrote it."""


class _Compare(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    op: Op
    value: Any = None


class Trait(_Compare, tag="trait", tag_field="kind"):
    """A profile trait (from identify or group calls; nested keys with dots: ``address.city``)."""


class Computed(_Compare, tag="computed", tag_field="kind"):
    """A computed trait's value (``order_count``, ``lifetime_revenue``)."""


class Property(_Compare, tag="property", tag_field="kind"):
    """An event property; only inside an event's ``where``."""


class Window(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """When events count: the last N days, or ``since <= timestamp < until`` (either end
    may be left out)."""

    last_days: int | None = None
    since: str | None = None
    until: str | None = None


class Event(
    msgspec.Struct,
    tag="event",
    tag_field="kind",
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
):
    """A measure of a profile's events compared to a value.

    ``count >= 1`` is "performed", ``count = 0`` "not performed"; ``sum``/``avg``/``min``/
    ``max``/``distinct`` aggregate ``property``; ``first``/``last`` are times (date ops).
    """

    type: EventType = "track"
    event: str | None = None
    where: Condition | None = None
    window: Window | None = None
    measure: Measure = "count"
    property: str | None = None
    op: Op = "gte"
    value: Any = 1


class Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """One event of a sequence."""

    type: EventType = "track"
    event: str | None = None
    where: Condition | None = None


class Sequence(
    msgspec.Struct,
    tag="sequence",
    tag_field="kind",
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
):
    """``first`` then ``then`` within ``within_s`` seconds (or, with ``followed`` false, a
    ``first`` that was not followed by ``then`` within that time, once the time has passed).
    ``window`` limits which ``first`` events count."""

    first: Step
    then: Step
    within_s: int
    followed: bool = True
    window: Window | None = None


class Member(msgspec.Struct, tag="audience", tag_field="kind", forbid_unknown_fields=True):
    """Membership in another audience (by key); cycles are refused."""

    audience: str


class InList(msgspec.Struct, tag="list", tag_field="kind", forbid_unknown_fields=True):
    """Membership in a static list."""

    list: str


class Tagged(msgspec.Struct, tag="tag", tag_field="kind", forbid_unknown_fields=True):
    """The profile carries a tag."""

    tag: str


class Consent(msgspec.Struct, tag="consent", tag_field="kind", forbid_unknown_fields=True):
    """Consent for a category: the newest event carrying
    ``context.consent.categoryPreferences.<category>`` decides; without one, the trait
    ``consent.<category>``; without either, no consent."""

    category: str


class Account(msgspec.Struct, tag="account", tag_field="kind", forbid_unknown_fields=True):
    """(Users) The user belongs to at least one account where ``where`` holds."""

    where: Condition


class Users(
    msgspec.Struct,
    tag="users",
    tag_field="kind",
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
):
    """(Accounts) How many of the account's users satisfy ``where`` (``count >= 1`` default)."""

    where: Condition
    op: Op = "gte"
    value: Any = 1


class Bucket(msgspec.Struct, tag="bucket", tag_field="kind", forbid_unknown_fields=True):
    """A stable random bucket: the profile's bucket (0-99) is in ``[start, end)``."""

    start: int
    end: int


class All(msgspec.Struct, tag="all", tag_field="kind", forbid_unknown_fields=True):
    """Every condition holds (an empty ``all`` holds for everyone)."""

    all: list[Condition]


class AnyOf(msgspec.Struct, tag="any", tag_field="kind", forbid_unknown_fields=True):
    """At least one condition holds (an empty ``any`` holds for nobody)."""

    any: list[Condition]


class Not(msgspec.Struct, tag="not", tag_field="kind", forbid_unknown_fields=True):
    """The condition does not hold."""

    not_: Condition = msgspec.field(name="not")


Condition = (
    All | AnyOf | Not | Trait | Computed | Property | Event | Sequence | Member | InList
    | Tagged | Consent | Account | Users | Bucket
)  # fmt: skip
Leaf = Trait | Computed | Property | Event | Sequence | Member | InList | Tagged | Consent | Bucket

_DECODER = msgspec.json.Decoder(Condition)
_ENCODER = msgspec.json.Encoder()


def from_json(raw: bytes | str | Any) -> Condition:
    """Parse a definition from JSON text or an already-decoded value; ``DefinitionError``
    explains what is wrong."""
    try:
        if isinstance(raw, bytes | str):
            node: Condition = _DECODER.decode(raw)
        else:
            node = msgspec.convert(raw, Condition)
    except msgspec.ValidationError as exc:
        raise DefinitionError(f"invalid definition: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DefinitionError(f"the definition is not JSON: {exc}") from None
    return node


def to_builtins(node: Condition) -> Any:
    """The JSON-ready form of a tree."""
    return msgspec.to_builtins(node)


def to_json(node: Condition) -> str:
    """The stored JSON form of a tree."""
    return _ENCODER.encode(node).decode()


def children(node: Condition) -> list[Condition]:
    """Direct sub-conditions (an event's ``where`` and an account's condition included)."""
    if isinstance(node, All):
        return list(node.all)
    if isinstance(node, AnyOf):
        return list(node.any)
    if isinstance(node, Not):
        return [node.not_]
    if isinstance(node, Event | Account | Users):
        return [node.where] if node.where is not None else []
    if isinstance(node, Sequence):
        return [s.where for s in (node.first, node.then) if s.where is not None]
    return []


def walk(node: Condition) -> Iterator[Condition]:
    """Every node of the tree, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def references(node: Condition) -> set[str]:
    """Keys of the audiences this definition depends on."""
    return {n.audience for n in walk(node) if isinstance(n, Member)}


def materializable_paths(node: Condition) -> set[str]:
    """The event paths whose values this definition aggregates or checks consent on
    (``properties.revenue``, ``context.consent.categoryPreferences.marketing``): the ones
    worth keeping as narrow rows (``identity.materialized``)."""
    out: set[str] = set()
    for n in walk(node):
        if isinstance(n, Event) and n.measure in PROPERTY_MEASURES and n.where is None:
            out.add(f"properties.{n.property}")
        elif isinstance(n, Consent):
            out.add(f"context.consent.categoryPreferences.{n.category}")
    return out


def event_selectors(node: Condition) -> list[tuple[str, str | None]] | None:
    """The ``(type, name)`` of the events that can change this definition's result for a
    profile, or ``None`` when anything can (traits, negations, conditions a profile without
    events satisfies, ...). Only trees of ``all``/``any`` over event conditions that need
    at least one matching event, and positive sequences, have selectors."""
    out: list[tuple[str, str | None]] = []

    def visit(n: Condition) -> bool:
        if isinstance(n, All | AnyOf):
            return all(visit(c) for c in children(n))
        if isinstance(n, Event):
            if not _needs_an_event(n):
                return False
            out.append((n.type, n.event))
            return True
        if isinstance(n, Sequence) and n.followed:
            out.extend([(n.first.type, n.first.event), (n.then.type, n.then.event)])
            return True
        return False

    if isinstance(node, All) and not node.all:
        return None  # everyone: new profiles enter
    return out if visit(node) else None


def _needs_an_event(n: Event) -> bool:
    """Whether the condition is false for a profile without matching events."""
    if n.measure in ("count", "sum", "distinct"):
        value = n.value
        # With no matching event the measure is 0: is the comparison false at 0?
        if n.op == "gt" and _is_number(value):
            return bool(value >= 0)
        if n.op == "gte" and _is_number(value):
            return bool(value > 0)
        if n.op == "eq" and _is_number(value):
            return bool(value != 0)
        if n.op == "between" and isinstance(value, list):
            return bool(value[0] > 0 or value[1] < 0)
        return False
    return n.op not in ("neq", "not_exists")


def time_dependent(node: Condition) -> bool:
    """Whether the passing of time alone can change the result (relative windows and dates,
    matured sequences), so a real-time audience must also be re-checked on a schedule."""
    for n in walk(node):
        if isinstance(n, _Compare) and n.op in ("within_last", "more_than_ago", "within_next"):
            return True
        if isinstance(n, Event | Sequence) and n.window is not None and n.window.last_days:
            return True
        if isinstance(n, Event) and n.op in ("within_last", "more_than_ago", "within_next"):
            return True
        if isinstance(n, Sequence) and not n.followed:
            return True
    return False


def validate(node: Condition, collection: Collection) -> None:
    """Check what the types cannot: operators against values, where each node may appear,
    sizes. Raises ``DefinitionError``."""
    count = 0

    def visit(n: Condition, depth: int, in_event: bool, coll: str) -> None:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise DefinitionError(f"a definition has at most {MAX_NODES} conditions")
        if depth > MAX_DEPTH:
            raise DefinitionError(f"conditions nest at most {MAX_DEPTH} levels deep")
        if isinstance(n, Property) and not in_event:
            raise DefinitionError("property conditions belong inside an event's 'where'")
        if in_event and not isinstance(n, Property | All | AnyOf | Not):
            raise DefinitionError("an event's 'where' holds property conditions only")
        if isinstance(n, _Compare):
            _check_name(n.name)
            check_compare(n.op, n.value)
        elif isinstance(n, Event):
            _check_event(n)
        elif isinstance(n, Sequence):
            if not 0 < n.within_s <= 36500 * 86400:
                raise DefinitionError("a sequence's time limit is 1 second to 100 years")
            for step in (n.first, n.then):
                _check_selector(step.type, step.event)
            _check_window(n.window)
        elif isinstance(n, Account) and coll != USERS:
            raise DefinitionError("account conditions apply to audiences of users")
        elif isinstance(n, Users):
            if coll != ACCOUNTS:
                raise DefinitionError("conditions on users apply to audiences of accounts")
            _check_count(n.op, n.value)
        elif isinstance(n, Bucket) and not 0 <= n.start < n.end <= 100:
            raise DefinitionError("a bucket range needs 0 <= start < end <= 100")
        elif isinstance(n, Member | InList | Tagged | Consent):
            text = n.audience if isinstance(n, Member) else getattr(n, type(n).__struct_fields__[0])
            if not text or len(text) > MAX_TEXT:
                raise DefinitionError(f"a {type(n).__name__.lower()} name must be 1-1000 chars")
        sub_coll = ACCOUNTS if isinstance(n, Account) else USERS if isinstance(n, Users) else coll
        inside = isinstance(n, Event | Sequence) or (in_event and isinstance(n, All | AnyOf | Not))
        for child in children(n):
            visit(child, depth + 1, inside, sub_coll)

    visit(node, 1, False, collection)


def _check_name(name: str) -> None:
    if not name or len(name) > 200:
        raise DefinitionError("a trait or property name must be 1-200 characters")


def _check_selector(kind: str, event: str | None) -> None:
    if kind == "track" and not event:
        raise DefinitionError("a track event condition needs the event name")
    if event is not None and (not event or len(event) > MAX_TEXT):
        raise DefinitionError("an event name must be 1-1000 characters")


def _check_window(window: Window | None) -> None:
    if window is None:
        return
    if window.last_days is not None and (window.since or window.until):
        raise DefinitionError("a window is either the last N days or a date range")
    if window.last_days is not None and not 1 <= window.last_days <= 36500:
        raise DefinitionError("a window of the last N days needs 1 <= N <= 36500")
    for value in (window.since, window.until):
        if value is not None:
            parse_date(value)
    if window.last_days is None and not window.since and not window.until:
        raise DefinitionError("an empty window: give last_days, since or until")


def _check_event(n: Event) -> None:
    _check_selector(n.type, n.event)
    _check_window(n.window)
    if n.measure in PROPERTY_MEASURES:
        if not n.property:
            raise DefinitionError(f"'{n.measure}' needs the property to aggregate")
        _check_name(n.property)
        _check_count(n.op, n.value, f"'{n.measure}'")
        return
    if n.property is not None:
        raise DefinitionError(f"'{n.measure}' takes no property")
    if n.measure in TIME_MEASURES:
        if n.op not in DATE_OPS and n.op not in ("exists", "not_exists"):
            raise DefinitionError(f"the {n.measure} time compares with a date operator")
        check_compare(n.op, n.value)
    else:
        _check_count(n.op, n.value)


def _check_count(op: str, value: Any, what: str = "a count") -> None:
    if op not in ("eq", "neq", "gt", "gte", "lt", "lte", "between"):
        raise DefinitionError(f"{what} compares with =, !=, >, >=, <, <= or between")
    check_compare(op, value, numeric_only=True)


def _is_number(value: Any) -> bool:
    # Infinities and NaN have no JSON form: they would be stored as null.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_compare(op: str, value: Any, numeric_only: bool = False) -> None:
    """Whether ``value`` suits ``op``; ``DefinitionError`` says why not."""
    if op in ("exists", "not_exists"):
        if value is not None:
            raise DefinitionError(f"'{op}' takes no value")
        return
    if numeric_only and op in ("eq", "neq", "gt", "gte", "lt", "lte") and not _is_number(value):
        raise DefinitionError(f"'{op}' here compares with a number, not {value!r}")
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            raise DefinitionError("'between' needs two numbers: [low, high]")
        if value[0] > value[1]:
            raise DefinitionError("'between' needs low <= high")
    elif op in ("gt", "gte", "lt", "lte"):
        if not _is_number(value):
            raise DefinitionError(f"'{op}' compares with a number, not {value!r}")
    elif op in ("in", "not_in"):
        if not (isinstance(value, list) and 0 < len(value) <= 1000):
            raise DefinitionError(f"'{op}' needs a list of 1-1000 values")
        if not all(isinstance(v, str | int | float | bool) for v in value):
            raise DefinitionError(f"'{op}' values are strings, numbers or booleans")
    elif op in ("before", "after"):
        if not isinstance(value, str):
            raise DefinitionError(f"'{op}' compares with an ISO date such as '2025-01-31'")
        parse_date(value)
    elif op in ("within_last", "more_than_ago", "within_next"):
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 36500):
            raise DefinitionError(f"'{op}' needs a whole number of days (1-36500)")
    elif op == "regex":
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise DefinitionError("'regex' needs a pattern of at most 1000 characters")
        try:
            re.compile(value)
        except (re.error, OverflowError, RecursionError) as exc:  # huge repeats, deep groups
            raise DefinitionError(f"invalid regular expression: {exc}") from None
        if _NOT_RE2.search(value):
            # The engines (DuckDB, ClickHouse, BigQuery use RE2) have no backreferences or
            # lookaround: refuse them here rather than fail on every refresh.
            raise DefinitionError(
                "regular expressions cannot use backreferences (\\1) or lookaround "
                "((?=…), (?!…), (?<=…), (?<!…))"
            )
    elif op in ("contains", "not_contains", "starts_with", "ends_with"):
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            raise DefinitionError(f"'{op}' needs a non-empty text of at most 1000 characters")
    elif op in ("eq", "neq") and not _is_scalar(value):
        raise DefinitionError(f"'{op}' compares with a string, number or boolean")


def _is_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return isinstance(value, bool) or _is_number(value)


_NOT_RE2 = re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?(?:=|!|<=|<!|>)")
# The same shape as ``dialects.DATE_RE``: what every engine reads as a date, identically.
_DATE = re.compile(
    r"^([1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?)?"
    r"(Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?$"
)


def parse_date(text: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 date or date-time (UTC without offset)."""
    from datetime import UTC, datetime, timedelta, timezone

    match = _DATE.match(text.strip())
    if not match:
        raise DefinitionError(f"not an ISO date: {text!r} (use 2025-01-31 or 2025-01-31T12:00Z)")
    year, month, day, hour, minute, sec, frac, zone = match.groups()
    tz = UTC
    try:
        if zone and zone != "Z":  # inside the try: an offset of 24h or more is a ValueError
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(sec or 0),
            int((frac or "0").ljust(6, "0")), tzinfo=tz,
        )  # fmt: skip
    except ValueError as exc:
        raise DefinitionError(f"not a valid date: {text!r} ({exc})") from None
    # Whole microseconds, then milliseconds rounded half away from zero, as DuckDB's
    # epoch_ms and PostgreSQL's round() do (float seconds would lose the last digit).
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (micros + 500) // 1000 if micros >= 0 else -((-micros + 500) // 1000)
