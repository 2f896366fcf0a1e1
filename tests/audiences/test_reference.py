"""The reference evaluator, rule by rule, on hand-made data: these tests are the readable
statement of the audience semantics that ``test_agreement.py`` holds the compiler to."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.audiences import model as m
from shoal.audiences.model import DAY_MS
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
from tests.audiences.reference import as_number, as_text, compare, evaluate, lookup


def users(*traits: dict[str, Any] | None) -> list[Profile]:
    """Users 1, 2, 3... with the given traits."""
    return [Profile("users", i, t) for i, t in enumerate(traits, start=1)]


def trait(traits: list[dict[str, Any] | None], name: str, op: str, value: Any = None) -> set[int]:
    """Which of the users with these traits match ``name op value``."""
    node = m.Trait(name=name, op=op, value=value)  # type: ignore[arg-type]
    m.validate(node, "users")
    return evaluate(node, "users", Dataset(profiles=users(*traits)), NOW_MS)


def track(pid: int, name: str, at: int, props: dict[str, Any] | None = None) -> EventRow:
    return EventRow("users", pid, "track", name, at, props, None)


def run(node: Any, data: Dataset, collection: str = "users") -> set[int]:
    m.validate(node, collection)
    return evaluate(node, collection, data, NOW_MS)


# --- values -----------------------------------------------------------------------------


def test_dotted_names_walk_nested_objects_only() -> None:
    doc = {"address": {"city": "Paris"}, "address.zip": "75001", "plan": "pro"}
    assert lookup(doc, "address.city") == "Paris"
    assert lookup(doc, "address.zip") is None  # a literal dotted key is not a path
    assert lookup(doc, "plan.name") is None  # a scalar on the way
    assert lookup(None, "plan") is None  # a NULL column


def test_missing_and_null_fail_positive_and_pass_negative_operators() -> None:
    data: list[dict[str, Any] | None] = [{"plan": "pro"}, {"plan": None}, {}, None]
    assert trait(data, "plan", "eq", "pro") == {1}
    assert trait(data, "plan", "neq", "pro") == {2, 3, 4}
    assert trait(data, "plan", "exists") == {1}
    assert trait(data, "plan", "not_exists") == {2, 3, 4}
    assert trait(data, "plan", "not_contains", "p") == {2, 3, 4}
    assert trait(data, "plan", "not_in", ["pro"]) == {2, 3, 4}
    assert trait(data, "plan", "gt", 0) == set()


def test_numbers_are_json_numbers_or_decimal_strings() -> None:
    numbers = (5, 2.5, "05", "-3", "2.50", "1e3", "2E-1", "-1.5e+2")
    assert [as_number(v) for v in numbers] == [5, 2.5, 5, -3, 2.5, 1000, 0.2, -150]
    not_numbers = (True, False, " 7", "+5", ".5", "5.", "NaN", "Infinity", "0x10", "1_000", "")
    for not_a_number in (*not_numbers, "5x", "e3", None):
        assert as_number(not_a_number) is None, not_a_number
    data: list[dict[str, Any] | None] = [{"age": 7}, {"age": "7"}, {"age": True}, {"age": "x"}]
    assert trait(data, "age", "gt", 5) == {1, 2}
    assert trait(data, "age", "between", [7, 7]) == {1, 2}
    assert trait(data, "age", "lt", 100) == {1, 2}


def test_eq_with_a_number_is_numeric() -> None:
    data: list[dict[str, Any] | None] = [{"n": 5}, {"n": "05"}, {"n": 5.5}, {"n": True}]
    assert trait(data, "n", "eq", 5) == {1, 2}
    assert trait(data, "n", "eq", 5.0) == {1, 2}


def test_eq_with_a_string_compares_the_text_form() -> None:
    data: list[dict[str, Any] | None] = [{"n": 5}, {"n": "5"}, {"n": "05"}, {"n": True}, {"n": 2.5}]
    assert trait(data, "n", "eq", "5") == {1, 2}
    assert trait(data, "n", "eq", "true") == {4}
    assert trait(data, "n", "eq", "2.5") == {5}
    assert as_text(True) == "true" and as_text(2.5) == "2.5" and as_text("x") == "x"


def test_eq_with_a_boolean_compares_true_false_text() -> None:
    data: list[dict[str, Any] | None] = [{"b": True}, {"b": "true"}, {"b": 1}, {"b": False}]
    assert trait(data, "b", "eq", True) == {1, 2}
    assert trait(data, "b", "eq", False) == {4}
    assert trait(data, "b", "neq", True) == {3, 4}


def test_in_is_eq_against_any_element() -> None:
    data: list[dict[str, Any] | None] = [{"v": "pro"}, {"v": "05"}, {"v": False}, {"v": "x"}]
    assert trait(data, "v", "in", ["pro", 5, False]) == {1, 2, 3}
    assert trait(data, "v", "not_in", ["pro", 5, False]) == {4}


def test_text_operators_are_case_sensitive_and_literal() -> None:
    data: list[dict[str, Any] | None] = [
        {"s": "Pro plan"}, {"s": "pro"}, {"s": "50%"}, {"s": "a_b"}, {"s": "axb"}, {"s": 25},
    ]  # fmt: skip
    assert trait(data, "s", "contains", "pro") == {2}
    assert trait(data, "s", "starts_with", "P") == {1}
    assert trait(data, "s", "ends_with", "%") == {3}
    assert trait(data, "s", "contains", "_") == {4}  # not a LIKE wildcard
    assert trait(data, "s", "contains", "5") == {3, 6}  # a number's text form


def test_regex_matches_anywhere() -> None:
    data: list[dict[str, Any] | None] = [{"s": "my pro plan"}, {"s": "pro"}, {"s": "PRO"}]
    assert trait(data, "s", "regex", "pro") == {1, 2}
    assert trait(data, "s", "regex", "^pro$") == {2}
    assert trait(data, "s", "regex", "a.b") == set()


def test_dates_parse_with_offsets_and_non_dates_never_match() -> None:
    week_ago = "2025-06-08"  # NOW is 2025-06-15T00:00Z
    data: list[dict[str, Any] | None] = [
        {"d": "2025-06-08T00:00:00Z"},
        {"d": "2025-06-08T02:00:00+02:00"},  # the same instant
        {"d": "2025-06-07T23:59:59.999"},  # no offset: UTC
        {"d": "2025-02-30"},  # not a valid date
        {"d": NOW_MS},  # a number is not a date
        {"d": "June 8"},
    ]
    assert trait(data, "d", "before", week_ago) == {3}  # strict
    assert trait(data, "d", "after", "2025-06-07T23:59:59.999Z") == {1, 2}  # strict
    assert trait(data, "d", "within_last", 7) == {1, 2}
    assert trait(data, "d", "more_than_ago", 7) == {3}


def test_relative_dates_bounds() -> None:
    data: list[dict[str, Any] | None] = [
        {"d": "2025-06-15T00:00:00Z"},  # now
        {"d": "2025-06-15T00:00:00.001Z"},  # just after now
        {"d": "2025-06-22T00:00:00Z"},  # now + 7 days
        {"d": "2025-06-22T00:00:00.001Z"},
        {"d": "2025-06-14T23:59:59.999Z"},
    ]
    assert trait(data, "d", "within_last", 7) == {1, 5}  # now - 7 days <= t <= now
    assert trait(data, "d", "within_next", 7) == {1, 2, 3}  # now <= t <= now + 7 days
    assert trait(data, "d", "more_than_ago", 1) == set()
    assert compare("2025-06-08", "more_than_ago", 7, NOW_MS) is False  # exactly: not more


def test_computed_traits_by_key() -> None:
    data = Dataset(
        profiles=users({}, {}, {}),
        computed=[ComputedRow(1, "ltv", 10), ComputedRow(2, "ltv", None), ComputedRow(3, "x", 10)],
    )
    assert run(m.Computed(name="ltv", op="gte", value=10), data) == {1}
    assert run(m.Computed(name="ltv", op="not_exists"), data) == {2, 3}


# --- events -----------------------------------------------------------------------------


def test_counts_of_no_events_are_zero() -> None:
    data = Dataset(profiles=users({}, {}), events=[track(1, "Order Completed", NOW_MS)])
    performed = m.Event(event="Order Completed")
    assert run(performed, data) == {1}
    assert run(m.Event(event="Order Completed", op="eq", value=0), data) == {2}
    assert run(m.Event(event="Order Completed", op="neq", value=1), data) == {2}
    assert run(m.Event(event="Order Completed", op="between", value=[0, 0]), data) == {2}


def test_selectors_type_any_and_names() -> None:
    events = [
        track(1, "Home", NOW_MS),
        EventRow("users", 2, "page", "Home", NOW_MS, None, None),
        EventRow("users", 3, "identify", None, NOW_MS, None, None),
        EventRow("accounts", 4, "group", None, NOW_MS, None, None),
    ]
    data = Dataset(profiles=[*users({}, {}, {}), Profile("accounts", 4, {})], events=events)
    assert run(m.Event(type="page"), data) == {2}
    assert run(m.Event(type="any", event="Home"), data) == {1, 2}
    assert run(m.Event(type="any"), data) == {1, 2, 3}  # events of the audience's collection
    assert run(m.Event(type="group"), data, "accounts") == {4}


def test_where_filters_events_by_properties() -> None:
    events = [
        track(1, "Order Completed", NOW_MS, {"item": {"price": 30}}),
        track(2, "Order Completed", NOW_MS, {"item": {"price": "5"}}),
        track(3, "Order Completed", NOW_MS, None),
    ]
    data = Dataset(profiles=users({}, {}, {}), events=events)
    cheap = m.Property(name="item.price", op="lt", value=10)
    assert run(m.Event(event="Order Completed", where=cheap), data) == {2}
    no_price = m.Property(name="item.price", op="not_exists")
    assert run(m.Event(event="Order Completed", where=no_price), data) == {3}


def test_sum_avg_min_max_distinct() -> None:
    events = [
        track(1, "O", NOW_MS, {"total": 10}),
        track(1, "O", NOW_MS, {"total": "5"}),
        track(1, "O", NOW_MS, {"total": "n/a"}),  # not a number: ignored
        track(1, "O", NOW_MS, {"total": True}),  # booleans are not numbers
        track(2, "O", NOW_MS, {"total": "x"}),
    ]
    data = Dataset(profiles=users({}, {}, {}), events=events)

    def measure(measure: str, op: str, value: Any) -> set[int]:
        node = m.Event(event="O", measure=measure, property="total", op=op, value=value)  # type: ignore[arg-type]
        return run(node, data)

    assert measure("sum", "eq", 15) == {1}
    assert measure("sum", "eq", 0) == {2, 3}  # a sum of nothing is 0
    assert measure("avg", "eq", 7.5) == {1}
    assert measure("avg", "neq", 7.5) == {2, 3}  # avg of nothing is missing
    assert measure("avg", "lt", 100) == {1}
    assert measure("min", "eq", 5) == {1}
    assert measure("max", "eq", 10) == {1}
    # distinct counts text forms of non-missing values: 10, "5", "n/a", true
    assert measure("distinct", "eq", 4) == {1}
    assert measure("distinct", "eq", 0) == {3}


def test_distinct_counts_text_forms() -> None:
    events = [track(1, "O", NOW_MS, {"sku": v}) for v in ("7", 7, "a", None)]
    data = Dataset(profiles=users({}), events=events)
    node = m.Event(event="O", measure="distinct", property="sku", op="eq", value=2)
    assert run(node, data) == {1}


def test_first_and_last_times() -> None:
    events = [
        track(1, "O", NOW_MS - 10 * DAY_MS),
        track(1, "O", NOW_MS - DAY_MS),
        track(2, "O", NOW_MS - 3 * DAY_MS),
    ]
    data = Dataset(profiles=users({}, {}, {}), events=events)
    first = m.Event(event="O", measure="first", op="more_than_ago", value=7)
    last = m.Event(event="O", measure="last", op="within_last", value=2)
    assert run(first, data) == {1}
    assert run(last, data) == {1}
    assert run(m.Event(event="O", measure="first", op="not_exists", value=None), data) == {3}
    before = m.Event(event="O", measure="last", op="before", value="2025-06-13")
    assert run(before, data) == {2}


def test_window_last_days_includes_its_boundary() -> None:
    events = [
        track(1, "O", NOW_MS - 7 * DAY_MS),
        track(2, "O", NOW_MS - 7 * DAY_MS - 1),
        track(3, "O", NOW_MS + DAY_MS),  # the future is not cut off by a window
    ]
    data = Dataset(profiles=users({}, {}, {}), events=events)
    assert run(m.Event(event="O", window=m.Window(last_days=7)), data) == {1, 3}


def test_window_between_dates_is_half_open() -> None:
    since, until = m.parse_date("2025-06-01"), m.parse_date("2025-06-08")
    events = [track(1, "O", since), track(2, "O", until - 1), track(3, "O", until)]
    data = Dataset(profiles=users({}, {}, {}), events=events)
    window = m.Window(since="2025-06-01", until="2025-06-08")
    assert run(m.Event(event="O", window=window), data) == {1, 2}
    assert run(m.Event(event="O", window=m.Window(until="2025-06-08")), data) == {1, 2}
    assert run(m.Event(event="O", window=m.Window(since="2025-06-08")), data) == {3}


# --- sequences ---------------------------------------------------------------------------


def sequence(followed: bool = True, window: m.Window | None = None) -> m.Sequence:
    return m.Sequence(
        first=m.Step(event="A"), then=m.Step(event="B"), within_s=60, followed=followed,
        window=window,
    )  # fmt: skip


def test_sequence_then_strictly_after_and_within_the_limit() -> None:
    t = NOW_MS - DAY_MS
    events = [
        track(1, "A", t), track(1, "B", t + 60_000),  # exactly at the limit: followed
        track(2, "A", t), track(2, "B", t + 60_001),  # a millisecond late
        track(3, "A", t), track(3, "B", t),  # the same time is not "then"
        track(4, "B", t), track(4, "A", t + 1),  # the wrong order
    ]  # fmt: skip
    data = Dataset(profiles=users({}, {}, {}, {}), events=events)
    assert run(sequence(), data) == {1}


def test_sequence_not_followed_only_once_the_time_has_passed() -> None:
    events = [
        track(1, "A", NOW_MS - 60_000),  # matured exactly now
        track(2, "A", NOW_MS - 59_999),  # could still be followed
        track(3, "A", NOW_MS - DAY_MS), track(3, "B", NOW_MS - DAY_MS + 60_000),
        track(4, "A", NOW_MS - DAY_MS), track(4, "B", NOW_MS - DAY_MS + 60_001),
    ]  # fmt: skip
    data = Dataset(profiles=users({}, {}, {}, {}), events=events)
    assert run(sequence(followed=False), data) == {1, 4}


def test_sequence_window_limits_only_the_first_step() -> None:
    events = [
        track(1, "A", NOW_MS - 2 * DAY_MS), track(1, "B", NOW_MS - 2 * DAY_MS + 1),
        track(2, "A", NOW_MS - DAY_MS + 1), track(2, "B", NOW_MS - DAY_MS + 2),
        track(3, "A", NOW_MS - DAY_MS - 1), track(3, "B", NOW_MS - DAY_MS + 1),
    ]  # fmt: skip
    data = Dataset(profiles=users({}, {}, {}), events=events)
    assert run(sequence(window=m.Window(last_days=1)), data) == {2}


# --- consent, lists, audiences, buckets --------------------------------------------------


def consent_event(pid: int, at: int, prefs: dict[str, Any]) -> EventRow:
    context = {"consent": {"categoryPreferences": prefs}}
    return EventRow("users", pid, "track", "X", at, None, context)


def test_consent_newest_boolean_event_decides() -> None:
    events = [
        consent_event(1, NOW_MS - 2, {"ads": False}), consent_event(1, NOW_MS - 1, {"ads": True}),
        consent_event(2, NOW_MS - 2, {"ads": True}), consent_event(2, NOW_MS - 1, {"ads": False}),
        # A non-boolean does not carry consent: the older boolean decides.
        consent_event(3, NOW_MS - 2, {"ads": True}), consent_event(3, NOW_MS - 1, {"ads": "false"}),
        consent_event(4, NOW_MS - 1, {"other": True}),
    ]  # fmt: skip
    data = Dataset(profiles=users({}, {"consent": {"ads": True}}, {}, {}), events=events)
    assert run(m.Consent("ads"), data) == {1, 3}


def test_consent_falls_back_to_the_trait_then_to_no() -> None:
    data = Dataset(
        profiles=users(
            {"consent": {"ads": True}}, {"consent": {"ads": "true"}}, {"consent": {"ads": 1}},
            {"consent": {"ads": False}}, {}, None,
        ),
        events=[consent_event(3, NOW_MS, {"ads": "yes"})],
    )  # fmt: skip
    assert run(m.Consent("ads"), data) == {1}  # only a JSON true, not "true" or 1


def test_consent_dotted_category_is_a_path() -> None:
    data = Dataset(
        profiles=users({}, {"consent": {"ads": {"email": True}}}, {}),
        events=[
            consent_event(1, NOW_MS, {"ads": {"email": True}}),
            consent_event(3, NOW_MS, {"ads.email": True}),  # a literal dotted key: no
        ],
    )
    assert run(m.Consent("ads.email"), data) == {1, 2}


def test_member_list_and_tag() -> None:
    data = Dataset(
        profiles=[*users({}, {}, {}), Profile("accounts", 9, {})],
        memberships=[Membership("vip", 1), Membership("other", 2)],
        lists=[
            ListEntry("users", "list", "beta", 1),
            ListEntry("users", "tag", "beta", 2),
            ListEntry("accounts", "list", "beta", 3),  # another collection's list
            ListEntry("accounts", "tag", "beta", 9),
        ],
    )
    assert run(m.Member("vip"), data) == {1}
    assert run(m.InList("beta"), data) == {1}
    assert run(m.Tagged("beta"), data) == {2}
    assert run(m.Tagged("beta"), data, "accounts") == {9}


_BUCKET_IDS = [0, 1, 100, -100, -101, -199, 2**62]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 1, {0, 100, -100}),
        (1, 2, {1, -101}),  # abs(-101 % 100) = 1 with SQL's %, not 99 as in Python
        (99, 100, {-199}),
        (4, 5, {2**62}),  # ...387904
        (0, 100, set(_BUCKET_IDS)),
    ],
)
def test_bucket_uses_the_sign_of_the_dividend(start: int, end: int, expected: set[int]) -> None:
    data = Dataset(profiles=[Profile("users", i, {}) for i in _BUCKET_IDS])
    assert run(m.Bucket(start, end), data) == expected


def test_account_conditions_follow_links_to_existing_accounts() -> None:
    data = Dataset(
        profiles=[
            *users({}, {}, {}),
            Profile("accounts", 10, {"plan": "pro"}),
            Profile("accounts", 11, {"plan": "free"}),
        ],
        links=[Link(1, 10), Link(1, 11), Link(2, 11), Link(3, 99)],  # 99 is no account
    )
    assert run(m.Account(where=m.Trait(name="plan", op="eq", value="pro")), data) == {1}
    # A dangling link is no account, even for a condition missing values pass.
    assert run(m.Account(where=m.Trait(name="plan", op="not_exists")), data) == set()


def test_users_counts_linked_users_that_satisfy() -> None:
    data = Dataset(
        profiles=[
            *users({"role": "admin"}, {"role": "admin"}, {}),
            Profile("accounts", 10, {}),
            Profile("accounts", 11, {}),
            Profile("accounts", 12, {}),
        ],
        links=[Link(1, 10), Link(2, 10), Link(3, 10), Link(1, 11), Link(3, 12), Link(77, 12)],
    )
    admins = m.Trait(name="role", op="eq", value="admin")
    assert run(m.Users(where=admins, op="gte", value=2), data, "accounts") == {10}
    assert run(m.Users(where=admins, op="eq", value=0), data, "accounts") == {12}
    # Only profiles that exist count: 77 is linked to 12 but is no user.
    everyone = m.All(all=[])
    assert run(m.Users(where=everyone, op="eq", value=1), data, "accounts") == {11, 12}


def test_boolean_combinations() -> None:
    data = Dataset(profiles=users({"a": 1}, {"a": 2}, {}))
    one = m.Trait(name="a", op="eq", value=1)
    assert run(m.All(all=[]), data) == {1, 2, 3}
    assert run(m.AnyOf(any=[]), data) == set()
    assert run(m.Not(not_=one), data) == {2, 3}
    assert run(m.AnyOf(any=[one, m.Trait(name="a", op="eq", value=2)]), data) == {1, 2}


def test_only_the_collection_and_space_asked_for() -> None:
    other = Dataset(space="other", profiles=users({"plan": "pro"}, {"plan": "pro"}))
    data = Dataset(
        profiles=[Profile("users", 1, {"plan": "free"}), Profile("accounts", 2, {"plan": "pro"})],
        foreign=other,
    )
    assert run(m.Trait(name="plan", op="eq", value="pro"), data) == set()
    assert run(m.Trait(name="plan", op="eq", value="pro"), data, "accounts") == {2}


def test_event_selectors_only_for_conditions_that_need_a_matching_event() -> None:
    from shoal.audiences.model import event_selectors
    from shoal.audiences.text import parse

    assert event_selectors(parse("event('A').count() >= 2 or page('Home')")) == [
        ("track", "A"),
        ("page", "Home"),
    ]
    assert event_selectors(parse("event('A') then event('B') within 1 hour")) == [
        ("track", "A"),
        ("track", "B"),
    ]
    # Anything a profile without matching events satisfies, or that traits, negations or
    # time decide, can change through any event (or none): no selectors.
    for text in (
        "event('A').count() = 0",
        "event('A').count() < 3",
        "not event('A')",
        "event('A') and trait('plan') = 'pro'",
        "event('A') then not event('B') within 1 hour",
        "event('A').avg('x') != 3",
        "everyone",
    ):
        assert event_selectors(parse(text)) is None, text
