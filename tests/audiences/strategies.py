"""Hypothesis strategies for audience tests: small adversarial datasets and valid definitions.

Both sides draw from one shared vocabulary (below) so that random conditions actually hit
random data: every trait, property and computed-trait name has a small pool of values that
mixes types on purpose (numbers next to numeric strings, booleans next to ``"true"``, dates
in several spellings and non-dates, quotes, ``%``/``_`` LIKE wildcards, non-ASCII text),
and conditions compare a name with values and fragments from its own pool. Event times sit
on window and date boundaries relative to ``NOW_MS`` (or a millisecond beside them), and at
exactly a sequence's time limit from each other.

Values whose text form differs between engines are kept out unless ``edges=True``: integral
floats (``1.0`` is ``1`` in ClickHouse's JSON text, ``1.0`` elsewhere). Newlines
are never generated: ``$`` and ``.`` treat them differently in Python, RE2 and PostgreSQL
regexes, and the model does not say which is right. Objects are only compared with
``exists``/``not_exists`` (their text form is engine-specific).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any, get_args

from hypothesis import strategies as st

from shoal.audiences import model as m
from shoal.audiences.model import ACCOUNTS, DAY_MS, USERS, parse_date
from tests.audiences.dataset import (
    NOW_MS,
    ComputedRow,
    Dataset,
    EventRow,
    Link,
    ListEntry,
    Membership,
    Profile,
)
from tests.audiences.reference import as_number, as_text, lookup

COLLECTIONS = (USERS, ACCOUNTS)

# --- the shared vocabulary --------------------------------------------------------------

# Dates around NOW (2025-06-15T00:00Z): exactly 7 days ago in several spellings, a hair on
# either side, local times with offsets, a future date and non-dates.
DATES = [
    "2025-06-08", "2025-06-08T00:00:00", "2025-06-08T00:00:00Z", "2025-06-08T02:00:00+02:00",
    "2025-06-07T20:00:00-0400", "2025-06-08T00:00:00.001Z", "2025-06-07T23:59:59.999Z",
    "2025-06-08 00:00", "2025-06-14T12:00:00Z", "2025-05-16", "2024-06-15", "2025-06-15",
    "2025-06-22", "2025-06-16T00:00:00+01:00", "2025-02-30", "2025/06/08", "June 8",
    # parse_date's edges: it strips spaces and truncates below a millisecond, and refuses
    # hour 24, second 60 and offsets of 24 hours or more.
    " 2025-06-08", "2025-06-08T00:00:00.0005Z", "2025-06-07T24:00:00Z",
    "2025-06-07T23:59:60Z", "2025-06-08T00:00:00+24:00",
]  # fmt: skip


def _is_date(text: str) -> bool:
    try:
        parse_date(text)
    except m.DefinitionError:
        return False
    return True


LITERAL_DATES = [d for d in DATES if _is_date(d)]

TRAIT_POOLS: dict[str, list[Any]] = {
    "plan": ["pro", "Pro", "free", "pro plan", "", "it's", 'say "hi"', "50%", "a_b", True, 5],
    "age": [5, "5", "05", -3, 2.5, "2.5", 19.99, "19.99", 100, "abc", True, "-0.5", 0, "0",
            "1e3", "2E-1"],
    # Strings some SQL casts take for numbers, which are not numbers here.
    "score": [0, 1, 7, "7", 2.5, -0.5, 0.1, "0.1", False, "x1", 100, None, " 7", "+5", ".5",
              "5.", "NaN", "Infinity", "0x10", "1_000"],
    "vip": [True, False, "true", "false", "yes", 1, 0, None],
    "signup": [*DATES, NOW_MS],  # an epoch number is not a date
    "email": ["ada@example.com", "ADA@example.com", "東京@例え.jp", "🐟@fish.io", "back\\slash",
              "a_b@x.io", "50%@x.io", ""],
    "first name": ["Ada", "naïve", "é", "Zoë", "O'Brien", " Ada", "ab-cd", "a.b"],
    "naïve": ["naïve", "NAÏVE", "🐟", 2.5, "2.5", True, "null", None],
    "it's": ["it's", 'say "hi"', "back\\slash", "", 7, "7", False],
    "address.city": ["Paris", "paris", "東京", "São Paulo", 5, "", None],
    "address.zip": ["75001", 75001, "0750", 750.5, "7500a"],
    "consent.analytics": [True, False, "true", "false", 1, None],
    "consent.ads.email": [True, False, "true", None],
}  # fmt: skip
PROPERTY_POOLS: dict[str, list[Any]] = {
    "total": [
        5,
        "5",
        2.5,
        "2.5",
        19.99,
        -3,
        "-3",
        100,
        0,
        "abc",
        True,
        None,
        "19.99",
        "1e1",
        " 7",
        "NaN",
    ],
    "qty": [1, 2, "2", 3, 0, True, "1", -1],
    "sku": ["A-1", "a_b", "50%", "A-1 ", "東京", 7, "7", ""],
    "coupon": ["SUMMER", "summer", "it's", 'say "hi"', None, "", False],
    "item.price": [2.5, "2.5", 7, 19.99, "x", 0.1, -0.5],
    "when": DATES,
}
COMPUTED_POOLS: dict[str, list[Any]] = {
    "order_count": [0, 1, 2, 3, "3", 7, None, "many"],
    "ltv": [19.99, "19.99", 100, 2.5, -0.5, "0.1", "n/a", True],
    "favorite": ["pro", "Pro", "東京", "🐟", "", "it's", 5],
    "last_seen": [*DATES, NOW_MS, "2025-06-14"],
}
POOLS = {**TRAIT_POOLS, **PROPERTY_POOLS, **COMPUTED_POOLS}
EDGE_VALUES: list[Any] = [1.0, 0.0, 5.0, -2.0]

CONTAINER_TRAITS = ["address", "consent"]  # objects: only exists/not_exists are portable
MEASURED = ["total", "qty", "item.price", "sku"]
TRACK_EVENTS = ["Order Completed", "Signed Up", "it's done"]
PAGE_NAMES = ["Home", "Pricing"]
CATEGORIES = ["analytics", "ads", "ads.email"]  # a dotted category is a nested path
AUDIENCES = ["aud-a", "aud-b"]
LIST_NAMES = ["beta", "vip list", "churn"]  # the same names serve as lists and tags
WITHIN_S = [60, 3600, 86400]
DAYS = [1, 7, 30, 365]
NUMBERS: list[int | float] = [0, 1, 2.5, 5, -3, 7, 19.99, 100, -0.5]
CONTAINS = ["pro", "P", "%", "_", "'", '"', "\\", "é", "東", "🐟", "5", "2.", "tru", "-", "."]
REGEXES = [
    "^pro", "o$", "[0-9]+", "^[A-Z]", "a.b", "é", "^$", "pro|free", "(ab|cd)+", "\\.",
    "^-?[0-9]+$", "東京", "'", ".*", "^[a-z]+ [a-z]+$", "^2025-06-0[78]", "%",
]  # fmt: skip

# Event times: anchors at window and date boundaries, offsets that land exactly on (or a
# millisecond beside) the sequence limits, so equal and boundary timestamps are common.
_ANCHORS = [NOW_MS - d * DAY_MS for d in (0, 1, 7, 30, 365)] + [
    NOW_MS + 7 * DAY_MS,
    parse_date("2025-06-14T12:00:00Z"),
    parse_date("2025-06-16T00:00:00+01:00"),
]
_OFFSETS = [0, 0, 1, -1, 60_000, 60_001, 3_600_000, 3_600_001, DAY_MS, -60_000]
DANGLING = 424242  # a linked account, member or list entry that is no profile


def _fragments(values: list[Any]) -> list[str]:
    """Non-empty pieces of the values' text forms, for contains/starts_with/ends_with."""
    out: set[str] = set()
    for value in values:
        text = as_text(value) if not isinstance(value, dict) else None
        if text:
            out.update({text, text[0], text[-1], text[: (len(text) + 1) // 2], text[1:]})
    return sorted(piece for piece in out if piece)


# --- datasets ---------------------------------------------------------------------------

_ONE_IN = {n: st.integers(0, n - 1).map(lambda x: x == 0) for n in (2, 8, 10)}


# Hypothesis spends ~0.1 ms per draw here, so values are drawn as few, wide choices (a whole
# (name, value) pair, a whole context) rather than field by field.


@functools.cache
def _values(name: str, edges: bool) -> list[Any]:
    """A name's values, weighted: mostly its own pool, sometimes any pool's."""
    own = POOLS[name] + (EDGE_VALUES if edges else [])
    anything = [v for pool in POOLS.values() for v in pool]
    return own * (len(anything) // len(own) * 3) + anything


@functools.cache
def stored(name: str, edges: bool = False) -> st.SearchStrategy[Any]:
    """A stored value for a name (see ``_values``)."""
    return st.sampled_from(_values(name, edges))


@functools.cache
def _index(size: int) -> st.SearchStrategy[int]:
    """An index into a list of ``size`` (strategies are cached: building them is slow)."""
    return st.integers(0, size - 1)


def _put(document: dict[str, Any], name: str, value: Any) -> None:
    """Set a dotted path, creating objects on the way (overwriting scalars there)."""
    *parents, last = name.split(".")
    current = document
    for part in parents:
        child = current.get(part)
        if not isinstance(child, dict):
            child = current[part] = {}
        current = child
    current[last] = value


@functools.cache
def documents(names: tuple[str, ...], edges: bool = False) -> st.SearchStrategy[Any]:
    """A JSON object setting some of ``names`` (nested where dotted), or None (SQL NULL).

    For traits, now and then a container holds a scalar (its dotted children are then
    missing), or a top-level key holds a literal dot that the dotted name must not reach.
    """
    pairs = [(n, v) for n in names for v in _values(n, edges)]
    if names[0] in TRAIT_POOLS:
        pairs += [(c, v) for c in CONTAINER_TRAITS for v in ("pro", 5, None)]
        pairs += [("address.city", "Paris"), ("address.city", "東京")] * 3
    pair = st.sampled_from(pairs)
    size = st.integers(0, len(names))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any] | None:
        if draw(_ONE_IN[10]):
            return None
        out: dict[str, Any] = {}
        for _ in range(draw(size)):
            name, value = draw(pair)
            if name == "address.city" and value in ("Paris", "東京") and draw(_ONE_IN[2]):
                out[name] = value  # the literal dotted key
            else:
                _put(out, name, value)
        return out

    return build()


def _contexts() -> list[dict[str, Any] | None]:
    """Event contexts: often none, else consent preferences that are booleans or not."""
    flags: list[Any] = [True, False, "true", None, 1]
    out: list[dict[str, Any] | None] = [None] * 12
    for first in flags:
        out.append({"consent": {"categoryPreferences": {"analytics": first}}, "locale": "fr"})
        out.append({"consent": {"categoryPreferences": {"ads": first}}})
        for second in (True, False):
            prefs = {"analytics": first, "ads": second}
            out.append({"consent": {"categoryPreferences": prefs}, "locale": "fr"})
    for flag in (True, False, "true"):
        out.append({"consent": {"categoryPreferences": {"ads": {"email": flag}}}})
        out.append({"consent": {"categoryPreferences": {"ads": flag, "ads.email": False}}})
    out.append({"consent": {}, "locale": "fr"})
    out.append({"consent": "yes"})
    return out


_CONTEXTS = st.sampled_from(_contexts())
_SELECTED = st.sampled_from(
    [("track", n) for n in TRACK_EVENTS] * 3
    + [(k, n) for k in ("page", "screen") for n in [None, *PAGE_NAMES]]
    + [("identify", None), ("group", None)]
)
_TIMES = st.sampled_from(sorted({a + o for a in _ANCHORS for o in _OFFSETS}))


@functools.cache
def event_bodies(edges: bool = False) -> st.SearchStrategy[tuple[Any, ...]]:
    """An event's type, name, time, properties and context (the owner is added later)."""
    return st.tuples(_SELECTED, _TIMES, documents(tuple(PROPERTY_POOLS), edges), _CONTEXTS).map(
        lambda t: (*t[0], *t[1:])
    )


def _untie_consent(rows: list[EventRow]) -> list[EventRow]:
    """Drop the context of an event whose consent flag ties with another flag of the same
    profile and category at the same time: which one is "newest" is then undefined, and
    the SQL may pick either."""
    seen: set[tuple[str, int, str, int]] = set()
    out = []
    for e in rows:
        keys = {
            (e.collection, e.profile_id, category, e.timestamp)
            for category in CATEGORIES
            if isinstance(lookup(e.context, f"consent.categoryPreferences.{category}"), bool)
        }
        if keys & seen:
            e = e._replace(context=None)
        else:
            seen |= keys
        out.append(e)
    return out


_IDS = st.one_of(
    st.integers(-250, 250),
    st.sampled_from([0, 99, 100, -100, -199, 2**62, -(2**62), 9_007_199_254_740_993]),
)


@functools.cache
def _computed_pairs(edges: bool) -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from([(k, v) for k in COMPUTED_POOLS for v in _values(k, edges)])


_AUDIENCE = st.sampled_from(AUDIENCES)
_LIST_KEY = st.tuples(
    st.sampled_from(COLLECTIONS), st.sampled_from(["list", "tag"]), st.sampled_from(LIST_NAMES)
)
_ID_LISTS = st.lists(_IDS, min_size=1, max_size=12, unique=True)


def _rows_of(element: st.SearchStrategy[Any], parts: int, size: int) -> st.SearchStrategy[Any]:
    """Up to ``parts * size`` rows as ``parts`` concatenated lists: hypothesis keeps a list
    short on average (~5), which would starve counts and sequences, while each element
    stays deletable for shrinking."""
    return st.tuples(*[st.lists(element, max_size=size)] * parts).map(
        lambda lists: [x for part in lists for x in part]
    )


@st.composite
def _rows(draw: st.DrawFn, users: list[int], accounts: list[int], edges: bool) -> Dataset:
    # Row lists are hypothesis lists (not a drawn count and a loop) so that shrinking can
    # delete single rows: a failing example shrinks to the few rows that matter.
    everyone = [(USERS, u) for u in users] + [(ACCOUNTS, a) for a in accounts]
    who = _index(len(everyone))
    # Half the events go to the first few profiles, so sequences and counts have material.
    busy = st.one_of(_index(min(3, len(everyone))), who)
    traits = documents(tuple(TRAIT_POOLS), edges)
    profiles = [Profile(c, pid, draw(traits)) for c, pid in everyone]
    rows = [
        EventRow(*everyone[owner], *body)
        for owner, body in draw(_rows_of(st.tuples(busy, event_bodies(edges)), 4, 10))
    ]
    computed = {
        (everyone[owner][1], key): value
        for owner, (key, value) in draw(_rows_of(st.tuples(who, _computed_pairs(edges)), 2, 6))
    }
    # Links mostly join existing users and accounts; some dangle (to no account).
    targets = [*accounts, DANGLING]
    pairs = st.tuples(_index(len(users)), _index(len(targets)))
    links = {Link(users[u], targets[a]) for u, a in draw(_rows_of(pairs, 2, 6))}
    ids = [pid for _, pid in everyone] + [DANGLING]
    anyone = _index(len(ids))
    memberships = [
        Membership(key, ids[i])
        for key, i in draw(st.lists(st.tuples(_AUDIENCE, anyone), max_size=6))
    ]
    # List entries may name a profile of the other collection: it must not count.
    entries = [
        ListEntry(collection, kind, name, ids[i])
        for (collection, kind, name), i in draw(_rows_of(st.tuples(_LIST_KEY, anyone), 2, 6))
    ]
    return Dataset(
        profiles=profiles,
        events=_untie_consent(rows),
        computed=[ComputedRow(pid, key, value) for (pid, key), value in computed.items()],
        links=sorted(links),
        memberships=memberships,
        lists=entries,
    )


@st.composite
def datasets(draw: st.DrawFn, edges: bool = False) -> Dataset:
    """A space of 1-12 users and 1-12 accounts with events, computed traits, links,
    memberships, lists and tags, plus another space's rows over the same and other ids."""
    users = draw(_ID_LISTS)
    accounts = [a for a in draw(_ID_LISTS) if a not in users] or [1_000_001]
    main = draw(_rows(users, accounts, edges))
    return replace(main, foreign=_elsewhere(main, users, accounts))


def _elsewhere(main: Dataset, users: list[int], accounts: list[int]) -> Dataset:
    """Another space with the same rows moved to other profiles (each id to the next of its
    collection, the last user to an id unknown in the main space): a query that ignores the
    space would see a difference.
    Derived rather than drawn, which keeps generation fast."""
    extra = 555 if 555 not in users + accounts else 556
    ring = [*users, extra]
    moved = {a: b for a, b in zip(ring, ring[1:] + ring[:1], strict=True)}
    moved.update({a: b for a, b in zip(accounts, accounts[1:] + accounts[:1], strict=True)})

    def to(pid: int) -> int:
        return moved.get(pid, pid)

    return Dataset(
        space="other",
        profiles=[p._replace(profile_id=to(p.profile_id)) for p in main.profiles],
        events=[e._replace(profile_id=to(e.profile_id)) for e in main.events],
        computed=[c._replace(profile_id=to(c.profile_id)) for c in main.computed],
        links=[Link(to(x.user_id), to(x.account_id)) for x in main.links],
        memberships=[x._replace(profile_id=to(x.profile_id)) for x in main.memberships],
        lists=[x._replace(profile_id=to(x.profile_id)) for x in main.lists],
    )


# --- conditions -------------------------------------------------------------------------

ALL_OPS: list[str] = list(get_args(m.Op))
COUNT_OPS = ["eq", "neq", "gt", "gte", "lt", "lte", "between"]
TIME_OPS = ["before", "after", "within_last", "more_than_ago", "within_next", "exists",
            "not_exists"]  # fmt: skip
_GENERAL_EQ: list[Any] = [*NUMBERS, True, False, "pro", "", "2025-06-08", "true", "5"]


@st.composite
def _between(draw: st.DrawFn, numbers: st.SearchStrategy[Any]) -> list[Any]:
    low, high = sorted([draw(numbers), draw(numbers)])
    return [low, high]


@functools.cache
def operand(op: str, name: str | None = None) -> st.SearchStrategy[Any]:
    """A value that suits ``op`` (``check_compare`` accepts it), drawn mostly from the
    pool of ``name`` so that it matches some stored values."""
    pool = [v for v in POOLS.get(name or "", []) if v is not None and len(str(v)) <= 1000]
    eq_values = st.sampled_from(pool + _GENERAL_EQ) if pool else st.sampled_from(_GENERAL_EQ)
    eq_values = eq_values.filter(lambda v: not isinstance(v, int) or abs(v) < 2**53)
    if op in ("exists", "not_exists"):
        return st.none()
    if op in ("eq", "neq"):
        return eq_values
    if op in ("in", "not_in"):
        return st.lists(eq_values, min_size=1, max_size=3)
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        return st.sampled_from(sorted({*_fragments(pool), *CONTAINS}))
    if op == "regex":
        return st.sampled_from(REGEXES)
    if op in ("gt", "gte", "lt", "lte", "between"):
        return numeric_operand(op, name)
    if op in ("before", "after"):
        return st.sampled_from(LITERAL_DATES)
    return st.sampled_from(DAYS)  # within_last, more_than_ago, within_next


@functools.cache
def numeric_operand(op: str, name: str | None = None) -> st.SearchStrategy[Any]:
    """A number (or a ``between`` pair) for a numeric comparison, including the numeric
    values of ``name``'s pool so that equality and bounds are hit exactly."""
    pool = POOLS.get(name or "", [])
    numbers = sorted({*NUMBERS, *(n for v in pool if (n := as_number(v)) is not None)})
    numeric = st.sampled_from([int(n) if float(n).is_integer() else n for n in numbers])
    return _between(numeric) if op == "between" else numeric


@st.composite
def compares(draw: st.DrawFn, cls: type[Any], names: tuple[str, ...]) -> Any:
    """A trait, computed or property comparison with any operator."""
    containers = CONTAINER_TRAITS if cls is m.Trait else []
    name = draw(st.sampled_from([*names, *containers]))
    op = draw(st.sampled_from(["exists", "not_exists"] if name in containers else ALL_OPS))
    return cls(name=name, op=op, value=draw(operand(op, name)))


def _count_value(op: str) -> st.SearchStrategy[Any]:
    if op == "between":
        return st.sampled_from([[0, 0], [0, 1], [1, 2], [2, 5], [1, 1]])
    return st.sampled_from([0, 1, 2, 3, 1.5])


_PROPERTY_COMPARES = compares(m.Property, tuple(PROPERTY_POOLS))


@st.composite
def wheres(draw: st.DrawFn, depth: int = 2) -> Any:
    """An event's ``where``: property conditions, sometimes under all/any/not."""
    shape = "leaf" if depth <= 1 else draw(_SHAPES)
    if shape == "leaf":
        return draw(_PROPERTY_COMPARES)
    if shape == "not":
        return m.Not(not_=draw(wheres(depth - 1)))
    kids = [draw(wheres(depth - 1)) for _ in range(draw(_ARITY))]
    return m.All(all=kids) if shape == "all" else m.AnyOf(any=kids)


_TRACK_NAMES = st.sampled_from(TRACK_EVENTS)
_PAGE_NAMES = st.one_of(st.none(), st.sampled_from(PAGE_NAMES))
_SELECTOR_TYPES = st.sampled_from(["track", "track", "page", "screen", "identify", "group", "any"])
_ANY_NAMES = st.one_of(st.none(), st.sampled_from([*TRACK_EVENTS, *PAGE_NAMES]))


@st.composite
def selectors(draw: st.DrawFn) -> tuple[str, str | None]:
    """An event type and name that validate (track needs a name; others may have one)."""
    kind = draw(_SELECTOR_TYPES)
    if kind == "track":
        return kind, draw(_TRACK_NAMES)
    return kind, draw(_PAGE_NAMES if kind in ("page", "screen") else _ANY_NAMES)


_MAYBE_DATE = st.one_of(st.none(), st.sampled_from(LITERAL_DATES))


@st.composite
def windows(draw: st.DrawFn) -> m.Window | None:
    """No window, the last N days, or a date range with either end open."""
    choice = draw(st.integers(0, 3))
    if choice <= 1:
        return None if choice == 0 else m.Window(last_days=draw(st.sampled_from(DAYS)))
    since = draw(_MAYBE_DATE)
    until = draw(st.sampled_from(LITERAL_DATES) if since is None else _MAYBE_DATE)
    return m.Window(since=since, until=until)


_MEASURES = st.sampled_from(
    ["count", "count", "sum", "avg", "min", "max", "distinct", "first", "last"]
)
_NO_WHERE = st.sampled_from([True, True, False])


@st.composite
def event_conditions(draw: st.DrawFn) -> m.Event:
    """An event measure compared to a value, over every measure."""
    kind, name = draw(selectors())
    measure = draw(_MEASURES)
    prop = None
    if measure == "count":
        op = draw(st.sampled_from(COUNT_OPS))
        value = draw(_count_value(op))
    elif measure in ("first", "last"):
        op = draw(st.sampled_from(TIME_OPS))
        value = draw(operand(op))
    else:
        prop = draw(st.sampled_from(MEASURED))
        op = draw(st.sampled_from(COUNT_OPS))  # aggregates compare like counts
        value = draw(_count_value(op) if measure == "distinct" else numeric_operand(op, prop))
    return m.Event(
        type=kind,  # type: ignore[arg-type]
        event=name,
        where=None if draw(_NO_WHERE) else draw(wheres()),
        window=draw(windows()),
        measure=measure,  # type: ignore[arg-type]
        property=prop,
        op=op,  # type: ignore[arg-type]
        value=value,
    )


@st.composite
def steps(draw: st.DrawFn) -> m.Step:
    """One step of a sequence."""
    kind, name = draw(selectors())
    where = None if draw(_NO_WHERE) else draw(wheres())
    return m.Step(type=kind, event=name, where=where)  # type: ignore[arg-type]


@st.composite
def sequences(draw: st.DrawFn) -> m.Sequence:
    """A sequence, followed or not, maybe windowed."""
    return m.Sequence(
        first=draw(steps()),
        then=draw(steps()),
        within_s=draw(st.sampled_from(WITHIN_S)),
        followed=draw(st.booleans()),
        window=draw(windows()),
    )


@st.composite
def buckets(draw: st.DrawFn) -> m.Bucket:
    """A bucket range ``0 <= start < end <= 100``."""
    start = draw(st.integers(0, 99))
    return m.Bucket(start, draw(st.integers(start + 1, 100)))


@functools.cache
def leaves(collection: str, nested: bool = True) -> st.SearchStrategy[Any]:
    """Every leaf kind that may appear in an audience of ``collection``."""
    options: list[st.SearchStrategy[Any]] = [
        compares(m.Trait, tuple(TRAIT_POOLS)),
        compares(m.Trait, tuple(TRAIT_POOLS)),
        compares(m.Computed, tuple(COMPUTED_POOLS)),
        event_conditions(),
        event_conditions(),
        sequences(),
        st.sampled_from(AUDIENCES).map(m.Member),
        st.sampled_from(LIST_NAMES).map(m.InList),
        st.sampled_from(LIST_NAMES).map(m.Tagged),
        st.sampled_from(CATEGORIES).map(m.Consent),
        buckets(),
    ]
    if nested and collection == USERS:
        inner = conditions(ACCOUNTS, nested=False, max_depth=2)
        options.append(inner.map(lambda where: m.Account(where=where)))
    if nested and collection == ACCOUNTS:
        options.append(users_conditions())
    return st.one_of(options)


@st.composite
def users_conditions(draw: st.DrawFn) -> m.Users:
    """(Accounts) how many users satisfy a condition."""
    op = draw(st.sampled_from(COUNT_OPS))
    where = draw(conditions(USERS, nested=False, max_depth=2))
    return m.Users(where=where, op=op, value=draw(_count_value(op)))  # type: ignore[arg-type]


_SHAPES = st.sampled_from(["leaf", "leaf", "leaf", "all", "any", "not"])
_ARITY = st.integers(0, 3)


@st.composite
def _trees(draw: st.DrawFn, collection: str, nested: bool, depth: int) -> Any:
    shape = "leaf" if depth <= 1 else draw(_SHAPES)
    if shape == "leaf":
        return draw(leaves(collection, nested))
    if shape == "not":
        return m.Not(not_=draw(_trees(collection, nested, depth - 1)))
    kids = [draw(_trees(collection, nested, depth - 1)) for _ in range(draw(_ARITY))]
    return m.All(all=kids) if shape == "all" else m.AnyOf(any=kids)


def conditions(collection: str, nested: bool = True, max_depth: int = 3) -> st.SearchStrategy[Any]:
    """Valid definition trees for an audience of ``collection`` (``model.validate`` passes).

    Shallow on purpose: with a handful of profiles, deep and/or/not trees mostly select all
    or none of them, which tests little; ``not`` is rarer than all/any for the same reason.
    """
    return _trees(collection, nested, max_depth).map(lambda node: _validated(node, collection))


def _validated(node: Any, collection: str) -> Any:
    # Everything is built valid; validating here makes a strategy bug fail loudly.
    m.validate(node, collection)
    return node


@st.composite
def cases(draw: st.DrawFn, edges: bool = False) -> tuple[str, Any, Dataset]:
    """An audience collection, a definition for it and a dataset to run it over."""
    data = draw(datasets(edges))
    collection = draw(st.sampled_from(COLLECTIONS))
    return collection, draw(conditions(collection)), data


@st.composite
def batches(draw: st.DrawFn, edges: bool = False) -> tuple[str, list[Any], Dataset]:
    """A dataset with several definitions to run over it: loading data costs far more than
    running one more query, and several independent trees see more of the vocabulary."""
    data = draw(datasets(edges))
    collection = draw(st.sampled_from(COLLECTIONS))
    return collection, draw(st.lists(conditions(collection), min_size=1, max_size=6)), data
