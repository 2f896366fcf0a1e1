"""Hypothesis strategies for valid audience condition trees (for the text form's tests).

``conditions(collection)`` draws trees that ``model.validate(tree, collection)`` accepts,
with awkward names (quotes, backslashes, newlines, non-BMP characters), every operator,
every measure and window, and the count shorthand, so that the printer meets all of them.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone
from typing import Any, get_args

from hypothesis import strategies as st

from shoal.audiences.model import (
    ACCOUNTS,
    USERS,
    Account,
    All,
    AnyOf,
    Bucket,
    Computed,
    Condition,
    Consent,
    DefinitionError,
    Event,
    InList,
    Measure,
    Member,
    Not,
    Property,
    Sequence,
    Step,
    Tagged,
    Trait,
    Users,
    Window,
    validate,
)

# Names: mostly plain, sometimes anything printable or not (hypothesis leaves surrogates
# out of text() by default, which JSON could not store anyway).
_TRICKY = st.sampled_from(["it's", 'say "hi"', "back\\slash", "line\nbreak", "tab\t", "é 😀"])
names = st.one_of(
    st.sampled_from(["plan", "Order Completed", "revenue", "address.city", "a"]),
    _TRICKY,
    st.text(min_size=1, max_size=12),
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(names, numbers, st.booleans())
days = st.integers(min_value=1, max_value=36500)


@st.composite
def dates(draw: st.DrawFn) -> str:
    """An ISO date or date-time, in the forms ``model.parse_date`` reads."""
    moment = draw(st.datetimes(timezones=st.just(UTC)))
    form = draw(st.sampled_from(["date", "z", "offset", "plain"]))
    if form == "date":
        return moment.date().isoformat()
    # isoformat, not strftime: strftime writes the year 33 as "33", not "0033".
    plain = moment.replace(tzinfo=None)
    if form == "z":
        return plain.isoformat(timespec="seconds") + "Z"
    if form == "plain":
        return plain.isoformat(sep=" ", timespec="minutes")
    minutes = draw(st.integers(min_value=-23 * 60, max_value=23 * 60))
    zone = timezone(timedelta(minutes=minutes))
    return moment.replace(tzinfo=zone).isoformat()


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return False
    return True


_between = st.tuples(numbers, numbers).map(lambda pair: sorted(pair))
_lists = st.lists(scalars, min_size=1, max_size=4)
_texts = st.text(min_size=1, max_size=12) | _TRICKY
_regexes = st.sampled_from(["^a", "a+b$", "[0-9]{3}", r"\d+", "x|y"]) | st.text(max_size=8).filter(
    _compiles
)
_numeric_ops = st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"])
_date_ops: Any = st.one_of(
    st.tuples(st.sampled_from(["before", "after"]), dates()),
    st.tuples(st.sampled_from(["within_last", "more_than_ago", "within_next"]), days),
    st.tuples(st.sampled_from(["exists", "not_exists"]), st.none()),
)
counts: Any = st.one_of(
    st.tuples(_numeric_ops, numbers),
    st.tuples(st.just("between"), _between),
    st.just(("gte", 1)),  # the default, printed as the shorthand
)
comparisons: Any = st.one_of(
    st.tuples(st.sampled_from(["eq", "neq"]), scalars),
    st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), numbers),
    st.tuples(st.just("between"), _between),
    st.tuples(st.sampled_from(["contains", "not_contains", "starts_with", "ends_with"]), _texts),
    st.tuples(st.just("regex"), _regexes),
    st.tuples(st.sampled_from(["in", "not_in"]), _lists),
    _date_ops,
)


def _compare(kind: type[Trait] | type[Computed] | type[Property]) -> st.SearchStrategy[Any]:
    return st.builds(lambda name, cmp: kind(name=name, op=cmp[0], value=cmp[1]), names, comparisons)


@st.composite
def _boolean(draw: st.DrawFn, children: st.SearchStrategy[Any], size: int = 3) -> Any:
    # A composite, not st.one_of: with costly children one_of came out as Not five times
    # in six, and all/any lists were rare.
    kind = draw(st.sampled_from(["all", "any", "not"]))
    if kind == "not":
        return Not(draw(children))
    items = draw(st.lists(children, max_size=size))
    return All(items) if kind == "all" else AnyOf(items)


# Property trees, as an event's where holds them (two levels: st.recursive would allow
# unbounded chains of Not, which count no leaves).
_properties = _compare(Property)
wheres: Any = st.one_of(_properties, _boolean(_properties | _boolean(_properties, 2), 2))
windows = st.one_of(
    st.builds(lambda n: Window(last_days=n), days),
    st.builds(lambda d: Window(since=d), dates()),
    st.builds(lambda d: Window(until=d), dates()),
    st.builds(lambda a, b: Window(since=a, until=b), dates(), dates()),
)


@st.composite
def selectors(draw: st.DrawFn) -> tuple[Any, str | None, Condition | None]:
    """An event type, a name (required for track events) and a where."""
    kind = draw(st.sampled_from(["track", "page", "screen", "identify", "group", "any"]))
    name = draw(names) if kind == "track" else draw(st.none() | names)
    return kind, name, draw(st.none() | wheres)


@st.composite
def events(draw: st.DrawFn) -> Event:
    """An event condition with any measure."""
    kind, name, where = draw(selectors())
    window = draw(st.none() | windows)
    measure: Measure = draw(st.sampled_from(get_args(Measure)))
    prop = None
    if measure in ("sum", "avg", "min", "max", "distinct"):
        prop = draw(names)
    op, value = draw(_date_ops if measure in ("first", "last") else counts)
    return Event(
        type=kind,
        event=name,
        where=where,
        window=window,
        measure=measure,
        property=prop,
        op=op,
        value=value,
    )


@st.composite
def sequences(draw: st.DrawFn) -> Sequence:
    """A two-step sequence, followed or not, with a time in any unit."""
    steps = [Step(type=k, event=n, where=w) for k, n, w in (draw(selectors()), draw(selectors()))]
    unit = draw(st.sampled_from([1, 60, 3600, 86400]))
    within_s = draw(st.integers(min_value=1, max_value=1000)) * unit
    return Sequence(
        first=steps[0],
        then=steps[1],
        within_s=within_s,
        followed=draw(st.booleans()),
        window=draw(st.none() | windows),
    )


_buckets = st.tuples(st.integers(0, 99), st.integers(1, 100)).filter(lambda b: b[0] < b[1])
leaves: Any = st.one_of(
    _compare(Trait),
    _compare(Computed),
    events(),
    sequences(),
    names.map(Member),
    names.map(InList),
    names.map(Tagged),
    names.map(Consent),
    _buckets.map(lambda b: Bucket(*b)),
)


def _valid(node: Condition, collection: str) -> bool:
    try:
        validate(node, collection)
    except DefinitionError:
        return False
    return True


@st.composite
def _conditions(draw: st.DrawFn, collection: str, depth: int) -> Condition:
    kind = draw(st.sampled_from(["leaf", "boolean", "scoped"])) if depth else "leaf"
    if kind == "leaf":
        node: Condition = draw(leaves)
    elif kind == "boolean":
        node = draw(_boolean(_conditions(collection, depth - 1)))
    elif collection == USERS:
        node = Account(where=draw(_conditions(ACCOUNTS, depth - 1)))
    else:
        op, value = draw(counts)
        node = Users(where=draw(_conditions(USERS, depth - 1)), op=op, value=value)
    return node


def conditions(collection: str = USERS, depth: int = 3) -> st.SearchStrategy[Condition]:
    """Valid condition trees for an audience of ``collection`` (users or accounts)."""
    # The size and depth limits of validate are the only rules drawn trees can break.
    return _conditions(collection, depth).filter(lambda node: _valid(node, collection))
