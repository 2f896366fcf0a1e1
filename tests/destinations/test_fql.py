"""FQL: parsing to the condition tree, errors with positions, evaluation, round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shoal.destinations.conditions import Condition, Trigger
from shoal.destinations.filters import DestinationFilter, apply_filters
from shoal.destinations.fql import FQLError, fql_or_none, parse, to_fql
from shoal.destinations.functions import FUNCTIONS
from shoal.destinations.mappings import Mapping
from shoal.destinations.paths import join_path

EVENT = {
    "type": "track",
    "event": "Button Clicked",
    "userId": "u-1",
    "context": {"library": {"name": "analytics.js", "version": "1.0"}},
    "properties": {
        "features": ["discounts", "dark-mode"],
        "total": 120,
        "enabled": True,
        "product 1": {"price": "19.99"},
        "a.b": 1,
        "name": "Big Order",
    },
}


def _tree(data: dict[str, Any]) -> Trigger:
    return Trigger.model_validate(data)


def test_parses_to_the_json_tree() -> None:
    assert parse('type = "track" and event = "Order Completed"') == _tree(
        {
            "match": "all",
            "conditions": [
                {"field": "type", "op": "is", "value": "track"},
                {"field": "event", "op": "is", "value": "Order Completed"},
            ],
        }
    )
    assert parse("properties.total > 100 or !(event = 'x')") == _tree(
        {
            "match": "any",
            "conditions": [
                {"field": "properties.total", "op": "gt", "value": 100},
                {"field": "event", "op": "is_not", "value": "x"},
            ],
        }
    )
    assert parse('length(userId) > 3 and lowercase(event) = "x"').conditions == [
        Condition(field="userId", fn="length", op="gt", value=3),
        Condition(field="event", fn="lowercase", op="is", value="x"),
    ]
    grouped = parse('type = "track" and (event = "a" or contains(event, "b"))')
    assert grouped.model_dump(by_alias=True) == {
        "match": "all",
        "conditions": [
            {"field": "type", "op": "is", "value": "track"},
            {
                "match": "any",
                "conditions": [
                    {"field": "event", "op": "is", "value": "a"},
                    {"field": "event", "op": "contains", "value": "b"},
                ],
            },
        ],
    }
    assert parse("all") == Trigger()


@pytest.mark.parametrize(
    ("text", "field", "op", "value"),
    [
        ("event in ['a', \"b\"]", "event", "in", ["a", "b"]),
        ("!(event in ['a'])", "event", "not_in", ["a"]),
        ("'dark-mode' in properties.features", "properties.features", "includes", "dark-mode"),
        ("userId = null", "userId", "not_exists", None),
        ("userId != null", "userId", "exists", None),
        ("properties.enabled", "properties.enabled", "is", True),
        ("!properties.enabled", "properties.enabled", "is_not", True),
        ("properties.ok = false", "properties.ok", "is", False),
        ("5 < properties.total", "properties.total", "gt", 5),
        ("-2.5e3 >= properties.total", "properties.total", "lte", -2500.0),
        ('match(event, "Order*")', "event", "starts_with", "Order"),
        ('match(event, "*ed")', "event", "ends_with", "ed"),
        ('match(event, "O?der*")', "event", "match", "O?der*"),
        (r'match(event, "a\\*")', "event", "match", r"a\*"),
        ('!contains(event, "x")', "event", "not_contains", "x"),
        (r"properties.product\ 1.price = '19.99'", "properties.product 1.price", "is", "19.99"),
        (r"properties.a\.b = 1", r"properties.a\.b", "is", 1),
        (r"\and = 1", "and", "is", 1),
        (r"event = 'it\'s \"q\" \\ \u00e9\n'", "event", "is", 'it\'s "q" \\ é\n'),
        ("event = '\\ud83d\\ude00'", "event", "is", "😀"),
    ],
)
def test_forms(text: str, field: str, op: str, value: Any) -> None:
    (condition,) = parse(text).conditions
    assert condition == Condition(field=field, op=op, value=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("type = ", 8, "expected a field or a value, found the end"),
        ('type == "x"', 7, "found '='"),
        ("type = 'track' and", 19, "expected a field or a value"),
        ("(a = 1", 7, "expected ')' to close the '(' at column 1"),
        ("foo(x) = 1", 1, "unknown function 'foo'"),
        ('"x"', 1, "a value alone is not a condition"),
        ("a = b", 3, "two fields cannot be compared"),
        ('"a" = "b"', 5, "one side of a comparison must be a field"),
        ('x in "a"', 6, "'in' needs a list"),
        ("contains(x, 1)", 13, "second argument is a string"),
        ("!a = 1", 1, "wrap the comparison: !(a = 1)"),
        ('a = 1 and b = "open', 15, "a string is not closed"),
        ("a = 1 b = 2", 7, "expected 'and', 'or' or the end, found 'b'"),
        ("a = 1 AND b = 2", 7, "found 'AND'"),
        ("a..b = 1", 3, "empty name"),
        ("a. = 1", 2, "ends with '.'"),
        ("length(lowercase(x)) > 1", 8, "takes a field, not a function call"),
        ("x > true", 5, "'>' compares numbers"),
        (r'a = "\q"', 6, r"unknown escape '\q'"),
        (r'a = "\u12"', 6, "four hex digits"),
        (r'a = "\ud800"', 6, "surrogate"),
        ("", 1, "empty; write `all`"),
        ("a @ 1", 3, "unexpected character '@'"),
        ("1abc = 2", 1, "'1a' is not a number"),
        ("x in [1, y]", 10, "a list holds values"),
        ("x in [1 2]", 9, "expected ',' or ']'"),
        ('contains(event, "a") = true', 22, "cannot be compared"),
        ("a = 1\\", 6, "lone '\\'"),
        ("(" * 20 + "a" + ")" * 20, 14, "nest at most 12 levels"),
        (" or ".join(f"a = {i}" for i in range(21)), 188, "at most 20 conditions in a row"),
    ],
)
def test_errors_point_at_the_problem(text: str, column: int, words: str) -> None:
    with pytest.raises(FQLError) as caught:
        parse(text)
    assert caught.value.column == column, str(caught.value)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"invalid FQL at column {column}: ")
    assert caught.value.pointer().splitlines()[1] == " " * (column - 1) + "^"


def test_overlong_statements_are_refused_not_parsed() -> None:
    with pytest.raises(FQLError, match="at most 10000 characters"):
        parse("a = 1 and " * 1000 + "a = 1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("event = 'Button Clicked'", True),
        ("event = 'Screen Tapped'", False),
        ("context.path.path = '/login'", False),
        ("type = 'identify' or type = 'track'", True),
        ("event = 'Button Clicked' and type = 'track'", True),
        ("match(context.library.version, '1.*')", True),
        ("match(context.library.version, '2.*')", False),
        ("type = 'track' and (event = 'Click' or match(event, 'Button *'))", True),
        ("!contains(context.library.name, 'js')", False),
        ("'dark-mode' in properties.features", True),
        ("'blink' in properties.features", False),
        ("!(type in ['track', 'identify'])", False),
        ("length(userId) > 0", True),
        ("length(anonymousId) > 0", False),  # missing is null and length(null) is 0
        ("lowercase(missing) = null", True),
        ("length(properties.features) = 2", True),
        ("uppercase(event) = 'BUTTON CLICKED'", True),
        ("snakecase(event) = 'Button_Clicked'", True),
        ("kebabcase(event) = 'Button-Clicked'", True),
        ("titlecase(properties.name) = 'Big Order'", True),
        ("typeof(properties.features) = 'list'", True),
        ("typeof(properties.total) = 'number'", True),
        ("typeof(nothing) = 'null'", True),
        ("number(properties.product\\ 1.price) > 19", True),
        ("string(properties.total) = '120'", True),
        ("bool(properties.enabled)", True),
        ("properties.enabled", True),
        ("properties.enabled = 1", False),  # strict: true is not 1
        ("properties.total = 120.0", True),
        ("properties.a\\.b = 1", True),  # an escaped dot is part of the name "a.b"
        ("match(event, 'Button Click[a-e]d')", True),
        ("match(event, 'button*')", False),  # globs are case sensitive
        ("match(event, '[z-a]*')", False),  # an unreadable class is literal, never an error
        ("properties.total >= 120 and properties.total < 121", True),
        ("missing > 1 or missing < 1", False),
        ("missing != 'x'", True),
    ],
)
def test_evaluates_like_segment_documents(text: str, expected: bool) -> None:
    assert parse(text).test(EVENT) is expected


def test_length_counts_bytes_as_segment_does() -> None:
    assert parse("length(properties.jp) = 3").test({"properties": {"jp": "ア"}})


def test_filters_and_mappings_take_fql_and_show_it_back() -> None:
    drop = DestinationFilter.model_validate(
        {"title": "no pages", "fql": "type = 'page'", "actions": [{"type": "drop"}]}
    )
    assert drop.if_ == parse('type = "page"')
    assert apply_filters([drop], {"type": "page"}) is None
    assert apply_filters([drop], {"type": "track"}) == {"type": "track"}
    # Segment's own API shape: "if" holds the statement.
    same = DestinationFilter.model_validate(
        {"title": "no pages", "if": "type = 'page'", "actions": [{"type": "drop"}]}
    )
    assert same.if_ == drop.if_
    # Sending back what the API shows (both forms) is fine when they agree ...
    shown = {**drop.model_dump(by_alias=True), "fql": to_fql(drop.if_)}
    assert DestinationFilter.model_validate(shown) == drop
    # ... and refused when they do not.
    with pytest.raises(ValidationError, match="describe different conditions"):
        DestinationFilter.model_validate({**shown, "fql": "type = 'track'"})
    with pytest.raises(ValidationError, match="invalid FQL at column 8"):
        DestinationFilter.model_validate(
            {"title": "x", "fql": "type = ", "actions": [{"type": "drop"}]}
        )
    mapping = Mapping.model_validate({"name": "m", "action": "send", "fql": "event = 'a'"})
    assert mapping.trigger.test({"event": "a"}) and not mapping.trigger.test({"event": "b"})
    assert Mapping.model_validate({"name": "m", "action": "send", "trigger": "event = 'a'"}) == (
        mapping
    )


def test_trees_fql_cannot_write_have_no_text() -> None:
    tree = _tree({"conditions": [{"field": "properties.x", "value": {"a": 1}}]})
    assert fql_or_none(tree) is None
    assert fql_or_none(Trigger()) == "all"


def test_json_trees_are_checked_and_kept_canonical() -> None:
    with pytest.raises(ValidationError, match="needs a list"):
        _tree({"conditions": [{"field": "x", "op": "in", "value": "a"}]})
    with pytest.raises(ValidationError, match="compares with a number"):
        _tree({"conditions": [{"field": "x", "op": "gt", "value": True}]})
    with pytest.raises(ValidationError, match="nested group needs at least one"):
        _tree({"conditions": [{"match": "any", "conditions": []}]})
    with pytest.raises(ValidationError, match="empty name"):
        _tree({"conditions": [{"field": "a..b"}]})
    nested: dict[str, Any] = {"field": "x", "op": "gt", "value": 1}
    for level in range(13):
        match = "any" if level % 2 else "all"
        nested = {"match": match, "conditions": [nested, {"field": f"y{level}"}]}
    with pytest.raises(ValidationError, match="nest at most 12"):
        _tree(nested)
    canonical = _tree(
        {
            "match": "any",
            "conditions": [
                {"not": {"not": {"field": "$.properties.a", "op": "is", "value": None}}},
            ],
        }
    )
    assert canonical.model_dump(by_alias=True) == {
        "match": "all",
        "conditions": [{"field": "properties.a", "op": "not_exists", "value": None}],
    }


# -- round trips -------------------------------------------------------------------------

_NAMES = st.one_of(
    st.sampled_from(
        [
            *("type", "event", "userId", "properties", "total", "and", "or", "in", "true"),
            *("null", "all", "0", "12", "-x", "-1", "a.b", "c\\d", "product 1", "$x", "é"),
        ]
    ),
    st.text(min_size=1, max_size=6),
)
_FIELDS = st.lists(_NAMES, min_size=1, max_size=3).map(join_path)
_TEXT = st.text(max_size=8)
_NUMBER = st.one_of(
    st.integers(-(10**15), 10**15), st.floats(allow_nan=False, allow_infinity=False)
)
_SCALAR = st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT)
_LIST = st.lists(_SCALAR, max_size=3)
_GLOBS = st.lists(st.sampled_from(["a", "*", "?", "[ab]", "\\*", "\\\\", "é", " "]), max_size=5)


def _leaf(field: str, fn: str | None, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "fn": fn, "op": op, "value": value}


_CONDITIONS = st.one_of(
    st.builds(_leaf, _FIELDS, st.none() | st.sampled_from(FUNCTIONS), st.just("is"), _SCALAR),
    st.builds(_leaf, _FIELDS, st.none(), st.sampled_from(["is", "is_not"]), _LIST),
    st.builds(_leaf, _FIELDS, st.none(), st.just("is_not"), _SCALAR),
    st.builds(
        _leaf,
        _FIELDS,
        st.none(),
        st.sampled_from(["contains", "not_contains", "starts_with", "ends_with"]),
        _TEXT,
    ),
    st.builds(_leaf, _FIELDS, st.none(), st.just("match"), _GLOBS.map("".join)),
    st.builds(_leaf, _FIELDS, st.none(), st.sampled_from(["exists", "not_exists"]), st.none()),
    st.builds(
        _leaf, _FIELDS, st.none(), st.sampled_from(["gt", "gte", "lt", "lte"]), _NUMBER | _TEXT
    ),
    st.builds(_leaf, _FIELDS, st.none(), st.sampled_from(["in", "not_in"]), _LIST),
    st.builds(_leaf, _FIELDS, st.none(), st.just("includes"), _SCALAR),
)
_NODES = st.recursive(
    _CONDITIONS,
    lambda children: st.one_of(
        children.map(lambda child: {"not": child}),
        st.builds(
            lambda match, nodes: {"match": match, "conditions": nodes},
            st.sampled_from(["all", "any"]),
            st.lists(children, min_size=1, max_size=4),
        ),
    ),
    max_leaves=10,
)
_TRIGGERS = st.builds(
    lambda match, nodes: {"match": match, "conditions": nodes},
    st.sampled_from(["all", "any"]),
    st.lists(_NODES, max_size=4),
)


def _valid(data: dict[str, Any]) -> Trigger:
    try:
        return Trigger.model_validate(data)
    except ValidationError:
        assume(False)
        raise


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TRIGGERS)
def test_tree_to_text_to_tree(data: dict[str, Any]) -> None:
    tree = _valid(data)
    text = to_fql(tree)
    assert parse(text) == tree, text
    assert to_fql(parse(text)) == text


def _respell(text: str, draw: st.DrawFn) -> str:
    """Another spelling of a canonical statement: single quotes, spaces, extra parentheses."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == '"':
            # A double-quoted literal: decode it, re-encode it in single quotes.
            end = i + 1
            while text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            value = json.loads(text[i : end + 1])
            if draw(st.booleans()):
                escaped = value.replace("\\", "\\\\").replace("'", "\\'")
                out.append(f"'{escaped}'")
            else:
                out.append(text[i : end + 1])
            i = end + 1
            continue
        if char == "\\":
            out.append(text[i : i + 2])
            i += 2
            continue
        if char == " ":
            out.append(draw(st.sampled_from([" ", "  ", "\t", "\n "])))
        elif char in "(),[]":
            out.append(draw(st.sampled_from([char, f" {char} ", f"{char} "])))
        else:
            out.append(char)
        i += 1
    spelled = "".join(out)
    return f"({spelled})" if draw(st.booleans()) and spelled != "all" else spelled


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TRIGGERS, st.data())
def test_text_to_tree_to_text_to_same_tree(data: dict[str, Any], draw: st.DataObject) -> None:
    tree = _valid(data)
    text = _respell(to_fql(tree), draw.draw)
    first = parse(text)
    assert first == tree, text
    assert parse(to_fql(first)) == first
