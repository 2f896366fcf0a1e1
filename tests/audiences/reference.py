"""The reference evaluator: which profiles an audience definition selects, in plain Python.

Written from the semantics in ``shoal.audiences.model`` (its module docstring and node
docstrings), never from the compiler's SQL, so that agreement between the two on random
definitions and data means something. Where the model leaves a detail open, the choice made
here is written down next to the code (and in ``test_reference.py``) so it can be argued
with:

* Values: a name with dots walks nested objects (``address.city``); a missing key, a
  non-object on the way, or JSON ``null`` is *missing*.
* Numbers: a JSON number, or a string that is wholly a decimal number with an optional
  exponent (``-?[0-9]+(.[0-9]+)?([eE][-+]?[0-9]+)?``: not ``+5``, `` 7``, ``.5``, ``5.``,
  ``NaN``, ``Infinity``, ``0x10``), is numeric; booleans never are.
* ``eq`` with a number compares numerically; with a string it compares the value's text
  form (a string itself; ``true``/``false``; a number's JSON text); with a boolean it
  compares the text form to ``'true'``/``'false'``. ``in`` is ``eq`` against any element.
  ``contains``/``starts_with``/``ends_with``/``regex`` read the same text form,
  case-sensitively; ``regex`` matches anywhere (RE2's partial match).
* Dates: a string ``model.parse_date`` accepts (UTC without an offset); anything else,
  numbers included, is not a date and matches no date operator. ``before``/``after`` are
  strict; ``within_last N`` is ``now - N days <= t <= now``; ``more_than_ago N`` is
  ``t < now - N days``; ``within_next N`` is ``now <= t <= now + N days`` (as the model's
  docstring states).
* Event windows: ``last_days N`` keeps ``timestamp >= now - N days`` (no upper bound); a
  date range keeps ``since <= timestamp < until``.
* ``distinct`` counts the distinct text forms of a property's non-missing values.
* Consent: only JSON booleans count, in events and in the ``consent.<category>`` trait
  alike (the string ``"true"`` is no consent); a category with dots is a nested path.
  Ties (two newest events carrying the category at the same time) are resolved as
  "consent only if all of them say true"; generated data avoids such ties.
* ``account``/``users`` only follow links to profiles that exist in the other collection
  of the same space, and ``users`` counts distinct users.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import msgspec

from shoal.audiences.model import (
    ACCOUNTS,
    DAY_MS,
    NEGATIVE,
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
    Member,
    Not,
    Property,
    Sequence,
    Step,
    Tagged,
    Trait,
    Users,
    Window,
    parse_date,
)
from tests.audiences.dataset import Dataset, EventRow

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_ENCODER = msgspec.json.Encoder()


# --- values ---------------------------------------------------------------------------


def lookup(document: Any, name: str) -> Any:
    """The value at a dotted path in a JSON document, or None when missing or null."""
    current = document
    for part in name.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def as_number(value: Any) -> float | None:
    """The value as a number, if it is one (a JSON number or a decimal string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def as_text(value: Any) -> str | None:
    """The text form string operators read: a string itself, else the value's JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _ENCODER.encode(value).decode()


def as_time(value: Any) -> int | None:
    """Epoch ms of an ISO date string (as ``model.parse_date`` reads it), else None."""
    if not isinstance(value, str):
        return None
    try:
        return parse_date(value)
    except DefinitionError:
        return None


def _equals(value: Any, target: Any) -> bool:
    if isinstance(target, bool):  # before int: bool is an int in Python
        return as_text(value) == ("true" if target else "false")
    if isinstance(target, int | float):
        number = as_number(value)
        return number is not None and number == float(target)
    return bool(as_text(value) == target)


def compare_time(moment: int | None, op: str, target: Any, now_ms: int) -> bool:
    """A date operator on a time in epoch ms (None, missing, matches nothing)."""
    if moment is None:
        return False
    if op == "before":
        return moment < parse_date(str(target))
    if op == "after":
        return moment > parse_date(str(target))
    if op == "within_last":
        return now_ms - int(target) * DAY_MS <= moment <= now_ms
    if op == "more_than_ago":
        return moment < now_ms - int(target) * DAY_MS
    if op == "within_next":
        return now_ms <= moment <= now_ms + int(target) * DAY_MS
    raise AssertionError(f"not a date operator: {op}")


def compare(value: Any, op: str, target: Any, now_ms: int) -> bool:
    """``value op target`` for a stored JSON value (None is missing)."""
    if op in NEGATIVE:
        # The negative operators are exactly the negation, so missing values pass them.
        return not compare(value, NEGATIVE[op], target, now_ms)
    if value is None:
        return False
    if op == "exists":
        return True
    if op == "eq":
        return _equals(value, target)
    if op == "in":
        return any(_equals(value, t) for t in target)
    if op in ("contains", "starts_with", "ends_with", "regex"):
        text = as_text(value)
        assert text is not None
        pattern = str(target)
        if op == "contains":
            return pattern in text
        if op == "starts_with":
            return text.startswith(pattern)
        if op == "ends_with":
            return text.endswith(pattern)
        return re.search(pattern, text) is not None
    if op in ("gt", "gte", "lt", "lte", "between"):
        number = as_number(value)
        if number is None:
            return False
        low, high = target if op == "between" else (target, target)
        if op == "gt":
            return number > float(low)
        if op == "gte":
            return number >= float(low)
        if op == "lt":
            return number < float(high)
        if op == "lte":
            return number <= float(high)
        return float(low) <= number <= float(high)
    return compare_time(as_time(value), op, target, now_ms)


# --- the evaluator ----------------------------------------------------------------------


class Evaluator:
    """Indexes one space's rows and decides conditions profile by profile."""

    def __init__(self, data: Dataset, now_ms: int) -> None:
        self.now_ms = now_ms
        self.profiles: dict[tuple[str, int], dict[str, Any] | None] = {
            (p.collection, p.profile_id): p.traits for p in data.profiles
        }
        self.events: dict[tuple[str, int], list[EventRow]] = defaultdict(list)
        for e in data.events:
            self.events[(e.collection, e.profile_id)].append(e)
        self.computed = {(c.profile_id, c.key): c.value for c in data.computed}
        self.accounts_of: dict[int, set[int]] = defaultdict(set)
        self.users_of: dict[int, set[int]] = defaultdict(set)
        for link in data.links:
            self.accounts_of[link.user_id].add(link.account_id)
            self.users_of[link.account_id].add(link.user_id)
        self.memberships = {(m.audience, m.profile_id) for m in data.memberships}
        self.lists = {(x.collection, x.kind, x.name, x.profile_id) for x in data.lists}

    def members(self, node: Condition, collection: str) -> set[int]:
        """Every profile of the collection for which ``node`` holds."""
        return {
            pid for coll, pid in self.profiles if coll == collection and self.holds(node, coll, pid)
        }

    def holds(self, node: Condition, collection: str, pid: int) -> bool:
        """Whether ``node`` holds for the profile ``pid`` of ``collection``."""
        if isinstance(node, All):
            return all(self.holds(c, collection, pid) for c in node.all)
        if isinstance(node, AnyOf):
            return any(self.holds(c, collection, pid) for c in node.any)
        if isinstance(node, Not):
            return not self.holds(node.not_, collection, pid)
        if isinstance(node, Trait):
            value = lookup(self.profiles.get((collection, pid)), node.name)
            return compare(value, node.op, node.value, self.now_ms)
        if isinstance(node, Computed):
            return compare(self.computed.get((pid, node.name)), node.op, node.value, self.now_ms)
        if isinstance(node, Event):
            return self._event(node, collection, pid)
        if isinstance(node, Sequence):
            return self._sequence(node, collection, pid)
        if isinstance(node, Member):
            return (node.audience, pid) in self.memberships
        if isinstance(node, InList):
            return (collection, "list", node.list, pid) in self.lists
        if isinstance(node, Tagged):
            return (collection, "tag", node.tag, pid) in self.lists
        if isinstance(node, Consent):
            return self._consent(node.category, collection, pid)
        if isinstance(node, Account):
            return any(
                (ACCOUNTS, account) in self.profiles and self.holds(node.where, ACCOUNTS, account)
                for account in self.accounts_of.get(pid, ())
            )
        if isinstance(node, Users):
            count = sum(
                1
                for user in self.users_of.get(pid, ())
                if (USERS, user) in self.profiles and self.holds(node.where, USERS, user)
            )
            return compare(count, node.op, node.value, self.now_ms)
        if isinstance(node, Bucket):
            # SQL's % keeps the dividend's sign, so abs(id % 100) == abs(id) % 100.
            return node.start <= abs(pid) % 100 < node.end
        if isinstance(node, Property):
            raise AssertionError("a property condition outside an event's where")
        raise AssertionError(f"unknown node {node!r}")

    # -- events --

    def _window(self, window: Window | None, timestamp: int) -> bool:
        if window is None:
            return True
        if window.last_days is not None and timestamp < self.now_ms - window.last_days * DAY_MS:
            return False
        if window.since and timestamp < parse_date(window.since):
            return False
        return not (window.until and timestamp >= parse_date(window.until))

    def _where(self, where: Condition | None, properties: dict[str, Any] | None) -> bool:
        if where is None:
            return True
        if isinstance(where, All):
            return all(self._where(c, properties) for c in where.all)
        if isinstance(where, AnyOf):
            return any(self._where(c, properties) for c in where.any)
        if isinstance(where, Not):
            return not self._where(where.not_, properties)
        if isinstance(where, Property):
            return compare(lookup(properties, where.name), where.op, where.value, self.now_ms)
        raise AssertionError(f"not a property condition: {where!r}")

    def _matching(
        self, step: Step | Event, window: Window | None, collection: str, pid: int
    ) -> list[EventRow]:
        return [
            e
            for e in self.events.get((collection, pid), ())
            if (step.type == "any" or e.type == step.type)
            and (step.event is None or e.event == step.event)
            and self._where(step.where, e.properties)
            and self._window(window, e.timestamp)
        ]

    def _event(self, node: Event, collection: str, pid: int) -> bool:
        events = self._matching(node, node.window, collection, pid)
        if node.measure in ("first", "last"):
            times = [e.timestamp for e in events]
            moment = (min(times) if node.measure == "first" else max(times)) if times else None
            if node.op in ("exists", "not_exists"):
                return (moment is not None) == (node.op == "exists")
            return compare_time(moment, node.op, node.value, self.now_ms)
        measured: float | int | None
        if node.measure == "count":
            measured = len(events)
        elif node.measure == "distinct":
            assert node.property is not None
            texts = {as_text(lookup(e.properties, node.property)) for e in events}
            measured = len(texts - {None})
        else:
            assert node.property is not None
            numbers = [as_number(lookup(e.properties, node.property)) for e in events]
            present = [n for n in numbers if n is not None]
            if node.measure == "sum":
                measured = sum(present)  # a sum of nothing is 0
            elif not present:
                measured = None  # avg/min/max of nothing is missing
            elif node.measure == "avg":
                measured = sum(present) / len(present)
            else:
                measured = min(present) if node.measure == "min" else max(present)
        return compare(measured, node.op, node.value, self.now_ms)

    def _sequence(self, node: Sequence, collection: str, pid: int) -> bool:
        limit = node.within_s * 1000
        firsts = self._matching(node.first, node.window, collection, pid)
        thens = [e.timestamp for e in self._matching(node.then, None, collection, pid)]

        def followed(a: int) -> bool:
            return any(a < b <= a + limit for b in thens)

        if node.followed:
            return any(followed(a.timestamp) for a in firsts)
        # Only a first whose time to be followed has fully passed can count as not followed.
        return any(a.timestamp <= self.now_ms - limit and not followed(a.timestamp) for a in firsts)

    def _consent(self, category: str, collection: str, pid: int) -> bool:
        carried = [
            (e.timestamp, flag)
            for e in self.events.get((collection, pid), ())
            if isinstance(
                flag := lookup(e.context, f"consent.categoryPreferences.{category}"), bool
            )
        ]
        if carried:
            newest = max(t for t, _ in carried)
            return all(flag for t, flag in carried if t == newest)
        # Consent is legal ground: only a JSON boolean true counts, never the text "true".
        return lookup(self.profiles.get((collection, pid)), f"consent.{category}") is True


def lookup_key(document: Any, path: Iterable[str]) -> Any:
    """Like ``lookup`` but with the path's keys given whole (no dot splitting)."""
    current = document
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def evaluate(node: Condition, collection: str, data: Dataset, now_ms: int) -> set[int]:
    """The ids of the profiles of ``collection`` in ``data.space`` that ``node`` selects."""
    return Evaluator(data, now_ms).members(node, collection)
