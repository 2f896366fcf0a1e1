"""The audience text form: examples, every operator, error positions, and properties
(tree -> text -> tree, canonical text is stable, any text fails only with DefinitionError)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
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
    Member,
    Not,
    Property,
    Sequence,
    Step,
    Tagged,
    Trait,
    Users,
    Window,
    from_json,
    to_json,
    validate,
)
from shoal.audiences.text import MAX_LENGTH, parse, to_text
from tests.audiences.text_strategies import conditions

REFERENCE = (
    "event('Order Completed').count() > 1 and page().within(40 days).count() = 0 "
    "and event('Order Completed').sum('revenue') > 800 and consent('marketing')"
)
CART = "event('Product Added') then not event('Order Completed') within 1 hour"
PRO = Trait(name="plan", op="eq", value="pro")
VIP = Tagged("vip")
BETA = InList("beta")


def order(**fields: Any) -> Event:
    return Event(event="Order Completed", **fields)


EXAMPLES: list[tuple[str, Condition]] = [
    (
        REFERENCE,
        All(
            [
                order(op="gt", value=1),
                Event(type="page", window=Window(last_days=40), op="eq", value=0),
                order(measure="sum", property="revenue", op="gt", value=800),
                Consent("marketing"),
            ]
        ),
    ),
    (
        CART,
        Sequence(
            first=Step(event="Product Added"),
            then=Step(event="Order Completed"),
            within_s=3600,
            followed=False,
        ),
    ),
    ("event('Signed Up')", Event(event="Signed Up")),
    ("event('Signed Up').count() >= 1", Event(event="Signed Up")),
    (
        "page('Pricing').within(7 days)",
        Event(type="page", event="Pricing", window=Window(last_days=7)),
    ),
    ("screen()", Event(type="screen")),
    (
        "identify().last() within last 30 days",
        Event(type="identify", measure="last", op="within_last", value=30),
    ),
    ("group().first() exists", Event(type="group", measure="first", op="exists", value=None)),
    (
        "any().first() more than 90 days ago",
        Event(type="any", measure="first", op="more_than_ago", value=90),
    ),
    ("any('Home')", Event(type="any", event="Home")),
    (
        "event('Order Completed').where(property('total') > 100 and property('currency') = 'EUR')"
        ".between('2025-01-01', '2025-02-01').avg('total') >= 150.5",
        order(
            where=All(
                [
                    Property(name="total", op="gt", value=100),
                    Property(name="currency", op="eq", value="EUR"),
                ]
            ),
            window=Window(since="2025-01-01", until="2025-02-01"),
            measure="avg",
            property="total",
            op="gte",
            value=150.5,
        ),
    ),
    (
        "event('X').since('2025-03-01').distinct('sku') between 2 and 5",
        Event(
            event="X",
            window=Window(since="2025-03-01"),
            measure="distinct",
            property="sku",
            op="between",
            value=[2, 5],
        ),
    ),
    (
        "event('X').until('2025-03-01').min('p') < -1.5e3",
        Event(
            event="X",
            window=Window(until="2025-03-01"),
            measure="min",
            property="p",
            op="lt",
            value=-1500.0,
        ),
    ),
    ("event('X').max('p') <= 7", Event(event="X", measure="max", property="p", op="lte", value=7)),
    ("event('X').count() != 3", Event(event="X", op="neq", value=3)),
    (
        "event('Viewed').where(property('sku') = 'A').within(7 days) "
        "then event('Bought').where(property('sku') = 'A') within 2 days",
        Sequence(
            first=Step(event="Viewed", where=Property(name="sku", op="eq", value="A")),
            then=Step(event="Bought", where=Property(name="sku", op="eq", value="A")),
            within_s=2 * 86400,
            window=Window(last_days=7),
        ),
    ),
    (
        "page() then screen('Home') within 30 seconds",
        Sequence(first=Step(type="page"), then=Step(type="screen", event="Home"), within_s=30),
    ),
    ("audience('high-value')", Member("high-value")),
    ("list('beta')", BETA),
    ("tag('vip')", VIP),
    (
        "account(trait('plan') = 'pro' and users(trait('role') = 'admin'))",
        Account(where=All([PRO, Users(where=Trait(name="role", op="eq", value="admin"))])),
    ),
    (
        "users(tag('vip')).count() between 2 and 10",
        Users(where=VIP, op="between", value=[2, 10]),
    ),
    ("bucket(0, 10)", Bucket(0, 10)),
    ("everyone", All([])),
    ("nobody", AnyOf([])),
    ("all of (tag('vip'))", All([VIP])),
    ("any of (tag('vip'))", AnyOf([VIP])),
    ("any of (tag('vip'), list('beta'))", AnyOf([VIP, BETA])),
    ("tag('vip') and list('beta') or trait('plan') = 'pro'", AnyOf([All([VIP, BETA]), PRO])),
    ("tag('vip') and (list('beta') or trait('plan') = 'pro')", All([VIP, AnyOf([BETA, PRO])])),
    ("(tag('vip') and list('beta')) and trait('plan') = 'pro'", All([All([VIP, BETA]), PRO])),
    ("tag('vip') and list('beta') and trait('plan') = 'pro'", All([VIP, BETA, PRO])),
    ("(tag('vip') or list('beta')) or trait('plan') = 'pro'", AnyOf([AnyOf([VIP, BETA]), PRO])),
    ("not tag('vip') and list('beta')", All([Not(VIP), BETA])),
    ("not (tag('vip') and list('beta'))", Not(All([VIP, BETA]))),
    ("not not tag('vip')", Not(Not(VIP))),
    ("computed('order_count') >= 3", Computed(name="order_count", op="gte", value=3)),
    (
        "NOT Tag('vip') AND Trait('plan') = 'pro' Or EVERYONE",
        AnyOf([All([Not(VIP), PRO]), All([])]),
    ),
    ('trait("plan") = "pro"  # a comment\n', PRO),
    ("trait('plan')\n  =\n  'pro'", PRO),
    (
        r"trait('it\'s') = 'a\\b\n\t\"\u00e9\ud83d\ude00'",
        Trait(name="it's", op="eq", value='a\\b\n\t"é😀'),
    ),
]


@pytest.mark.parametrize(("text", "tree"), EXAMPLES)
def test_examples_parse_to_their_tree_and_back(text: str, tree: Condition) -> None:
    assert parse(text) == tree
    assert parse(to_text(tree)) == tree
    validate(tree, ACCOUNTS if isinstance(tree, Users) else USERS)


CANONICAL = [
    (REFERENCE, REFERENCE),
    (CART, CART),
    ("event('Signed Up').count() >= 1", "event('Signed Up')"),
    ("event('X').count() >= 1.0", "event('X').count() >= 1.0"),
    ('TRAIT("plan")="pro"', "trait('plan') = 'pro'"),
    ("event('A') then event('B') within 120 minutes", "event('A') then event('B') within 2 hours"),
    (
        "event('A') then event('B') within 90 minutes",
        "event('A') then event('B') within 90 minutes",
    ),
    ("event('A') then event('B') within 86400 seconds", "event('A') then event('B') within 1 day"),
    ("event('X').within(1 days)", "event('X').within(1 day)"),
    ("event('X').within(7 day)", "event('X').within(7 days)"),
    (
        "event('X').within(7 days).where(property('a') exists)",
        "event('X').where(property('a') exists).within(7 days)",
    ),
    ("((tag('a')))", "tag('a')"),
    ("all of (tag('a'), tag('b'))", "tag('a') and tag('b')"),
    ("tag('a') and (tag('b') and tag('c'))", "tag('a') and (tag('b') and tag('c'))"),
    ("(tag('a') and tag('b')) or tag('c')", "tag('a') and tag('b') or tag('c')"),
    ("not (tag('a'))", "not tag('a')"),
    ("trait('n') = 1e3", "trait('n') = 1000.0"),
    ("trait('n') in [1, 2.5, 'x', true, false]", "trait('n') in [1, 2.5, 'x', true, false]"),
    ("trait('d') within last 1 days", "trait('d') within last 1 day"),
    ('tag("it\'s")', r"tag('it\'s')"),
    ("tag('\u00a0')", r"tag('\u00a0')"),
    ("users(tag('a')).count() >= 1", "users(tag('a'))"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical_text(text: str, canonical: str) -> None:
    assert to_text(parse(text)) == canonical
    assert to_text(parse(canonical)) == canonical


OPERATORS = [
    ("= 'pro'", "eq", "pro"),
    ("= 3", "eq", 3),
    ("= true", "eq", True),
    ("!= false", "neq", False),
    ("!= -2.5", "neq", -2.5),
    ("> 1", "gt", 1),
    (">= 0.5", "gte", 0.5),
    ("< -3", "lt", -3),
    ("<= 1e-3", "lte", 0.001),
    ("between 1 and 5", "between", [1, 5]),
    ("between -1.5 and 2", "between", [-1.5, 2]),
    ("contains 'gmail'", "contains", "gmail"),
    ("not contains 'test'", "not_contains", "test"),
    ("starts with 'A'", "starts_with", "A"),
    ("ends with '.io'", "ends_with", ".io"),
    ("matches '^[a-z]+$'", "regex", "^[a-z]+$"),
    ("exists", "exists", None),
    ("not exists", "not_exists", None),
    ("in ['pro', 'team']", "in", ["pro", "team"]),
    ("not in [1, 2]", "not_in", [1, 2]),
    ("before '2025-01-31'", "before", "2025-01-31"),
    ("after '2025-01-31T12:00Z'", "after", "2025-01-31T12:00Z"),
    ("within last 30 days", "within_last", 30),
    ("more than 90 days ago", "more_than_ago", 90),
    ("within next 7 days", "within_next", 7),
    ("STARTS WITH 'A'", "starts_with", "A"),
]


@pytest.mark.parametrize(("comparison", "op", "value"), OPERATORS)
def test_every_operator(comparison: str, op: str, value: Any) -> None:
    tree = parse(f"trait('x') {comparison}")
    assert tree == Trait(name="x", op=op, value=value)  # type: ignore[arg-type]
    assert isinstance(tree, Trait) and type(tree.value) is type(value)
    assert parse(to_text(tree)) == tree
    where = parse(f"event('E').where(property('x') {comparison})")
    assert where == Event(event="E", where=Property(name="x", op=op, value=value))  # type: ignore[arg-type]


# (text, line:column, how the message starts)
MISTAKES = [
    (
        "event('Order Completed' and tag('a')",
        "1:25",
        "expected ')' after the event name, found 'and'",
    ),
    ("event(Order Completed)", "1:7", "expected the event name in quotes"),
    ("trait('plan') == 'pro'", "1:15", "write '=' to compare, not '=='"),
    ("trait('plan') = pro", "1:17", "expected a value after '='"),
    (
        "trait('age') > 'ten'",
        "1:16",
        "expected a number after '>', found the text 'ten'; write numbers without",
    ),
    ("trait('plan')", "1:14", "expected a comparison after trait(...)"),
    (
        "trait('plan') = 'pro' tag('a')",
        "1:23",
        "expected 'and', 'or' or the end of the text, found 'tag' ('and' or 'or'",
    ),
    (
        "property('revenue') > 10",
        "1:1",
        "property(...) compares an event's property, so it goes inside .where(...)",
    ),
    (
        "event('X').where(trait('plan') = 'pro')",
        "1:18",
        "inside .where(...) only property('name') conditions can appear, not 'trait'",
    ),
    ("evnt('Signed Up')", "1:1", "unknown word 'evnt'; did you mean 'event'?"),
    ("event('X') >= 2", "1:12", "put a measure before the comparison"),
    ("event('X').count()", "1:19", "expected a comparison after .count()"),
    ("event('X') within 7 days", "1:12", "to count only recent events write .within(N days)"),
    (
        "event('A') then event('B').within(2 days) within 1 hour",
        "1:28",
        "a time window belongs to the first step of a sequence",
    ),
    ("event('A') then event('B')", "1:27", "expected 'within' after the second step"),
    (
        "event('A') then event('B') within 1 week",
        "1:37",
        "expected seconds, minutes, hours or days, found 'week'",
    ),
    (
        "event('A').count() > 1 then event('B') within 1 hour",
        "1:24",
        "a sequence step takes no measure",
    ),
    (
        "(tag('a') or tag('b')",
        "1:22",
        "expected ')' to close the '(' at line 1, column 1, found the end of the",
    ),
    ("tag('a'))", "1:9", "this ')' closes no '('"),
    ("trait('plan') = 'pro", "1:17", "this text has no closing '"),
    ("tag('a\\q')", "1:7", "unknown escape \\ before 'q'"),
    ("trait('d') before '2025-13-01'", "1:19", "not an ISO date: '2025-13-01'"),
    ("trait('d') before 'yesterday'", "1:19", "not an ISO date: 'yesterday'"),
    ("trait('n') between 5 and 1", "1:12", "'between' needs low <= high"),
    ("trait('n') between 1 5", "1:22", "expected 'and' between the two numbers"),
    ("trait('n') in []", "1:16", "the list after 'in' needs at least one value"),
    ("trait('n') not 'x'", "1:16", "expected 'contains' or 'exists' or 'in' after 'not'"),
    ("trait('n') starts 'x'", "1:19", "expected 'with' after 'starts', found the text 'x'"),
    ("trait('n') within 3 days", "1:19", "expected 'last' or 'next' after 'within'"),
    ("trait('n') matches '('", "1:12", "invalid regular expression"),
    ("trait('n') contains ''", "1:12", "'contains' needs a non-empty text"),
    ("trait('d') within last 1.5 days", "1:24", "expected a number of days, a whole number"),
    ("trait('d') within last 0 days", "1:12", "'within last' needs a whole number of days"),
    ("trait('a') = 1 &&\n  trait('b') = 2", "1:16", "unexpected character '&'; write 'and'"),
    ("trait('a') = 1 and\n  trait('b') =", "2:15", "expected a value after '='"),
    (
        "event('X').count() contains 'a'",
        "1:1",
        "a count compares with =, !=, >, >=, <, <= or between",
    ),
    ("event('X').first() > 3", "1:1", "the first time compares with a date operator"),
    ("event('X').sum() > 3", "1:16", "expected the property in quotes"),
    ("event()", "1:7", "event() needs the event name in quotes"),
    ("event('X').within(0 days)", "1:1", "a window of the last N days needs 1 <= N <= 36500"),
    ("event('X').count().within(7 days) > 1", "1:19", "the measure comes last"),
    ("event('X').total() > 1", "1:12", "after an event write .where(...)"),
    ("bucket(50, 10)", "1:1", "a bucket range needs 0 <= start < end <= 100"),
    (
        "account(account(tag('a')))",
        "1:9",
        "account(...) is for audiences of users, but here the conditions are about",
    ),
    (
        "users(users(tag('a')))",
        "1:7",
        "users(...) is for audiences of accounts, but here the conditions are about",
    ),
    (
        "account(tag('a')) and users(tag('b'))",
        "1:23",
        "users(...) is for audiences of accounts, but account(...) at line 1,",
    ),
    ("all(tag('a'))", "1:1", "expected 'of' after 'all'"),
    ("'plan' = 'pro'", "1:1", "expected a condition, found the text 'plan'"),
    ("", "1:1", "the text is empty"),
    ("   # only a comment", "1:1", "the text is empty"),
    ("tag('a') and", "1:13", "expected a condition"),
    (
        "event('A') then event('B') within 1 hour then event('C') within 1 hour",
        "1:42",
        "a sequence has two steps",
    ),
    ("trait('n') = 1e999", "1:14", "the number 1e999 is too large"),
    ("tag('\\ud800')", "1:6", "\\u escape of half a surrogate pair"),
    ("identify('x'", "1:13", "expected ')' after the identify name"),
]


@pytest.mark.parametrize(("text", "position", "message"), MISTAKES)
def test_mistakes_are_reported_with_their_position(text: str, position: str, message: str) -> None:
    line, column = position.split(":")
    with pytest.raises(DefinitionError) as caught:
        parse(text)
    assert str(caught.value).startswith(f"line {line}, column {column}: {message}"), caught.value


def test_limits() -> None:
    ok = "tag('a') or " * ((MAX_LENGTH - 8) // 12) + "tag('a')"
    assert len(parse(ok).any) > 1000  # type: ignore[union-attr]
    with pytest.raises(DefinitionError, match="longer than 20000"):
        parse(" " * (MAX_LENGTH + 1))
    with pytest.raises(DefinitionError, match="nest more than 50 levels"):
        parse("(" * 5000 + "tag('a')" + ")" * 5000)
    with pytest.raises(DefinitionError, match="nest more than 50 levels"):
        parse("not " * 4000 + "tag('a')")
    with pytest.raises(DefinitionError, match="too many digits"):
        parse("trait('n') = " + "9" * 5000)


def test_positions_count_lines_and_columns() -> None:
    with pytest.raises(DefinitionError, match=r"^line 3, column 5: "):
        parse("tag('a')\nand tag('b')\nand tg('c')")


@pytest.mark.parametrize(
    "tree",
    [
        Event(type="track"),  # a track event needs its name
        Event(event="X", measure="sum"),  # sum of nothing
        Event(event="X", window=Window()),  # an empty window
        Event(event="X", window=Window(last_days=3, since="2025-01-01")),
        Trait(name="n", op="gt", value=float("nan")),
        Trait(name="n", op="exists", value=1),
        Trait(name="n", op="in", value=[]),
    ],
)
def test_trees_the_text_cannot_express_raise_definition_error(tree: Condition) -> None:
    with pytest.raises(DefinitionError, match="cannot be written as text"):
        to_text(tree)


def test_the_documented_examples_parse() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "audiences.md").read_text()
    section = docs.split("## The text form", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None and parse(block.group(1)) == parse(REFERENCE)
    table = section.split("### Conditions\n\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(.+?)`(?:, `(.+?)`)? \|", table, re.M)
    snippets = [s for row in rows for s in row if s and "..." not in s]
    assert len(snippets) > 15
    for snippet in snippets:
        tree = parse(snippet)
        assert parse(to_text(tree)) == tree


# -- properties -------------------------------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.tuples(st.just(USERS), conditions(USERS))
    | st.tuples(st.just(ACCOUNTS), conditions(ACCOUNTS))
)
def test_tree_text_tree_round_trip(drawn: tuple[str, Condition]) -> None:
    collection, tree = drawn
    validate(tree, collection)
    text = to_text(tree)
    assert parse(text) == tree, text
    assert to_text(parse(text)) == text


def _parses(text: str) -> Condition | None:
    try:
        return parse(text)
    except DefinitionError:
        return None


def _check_parsed(tree: Condition | None) -> None:
    """A parsed tree is a well-typed tree: it survives JSON, prints, and is stable."""
    if tree is None:
        return
    assert from_json(to_json(tree)) == tree
    # The same JSON as the stored form decodes to: defaults left out, nothing extra.
    assert to_json(from_json(to_json(tree))) == to_json(tree)
    text = to_text(tree)
    assert parse(text) == tree
    assert to_text(parse(text)) == text


_ALPHABET = st.sampled_from(
    [
        *"()[],.=!<>'\"\\#-_ \n\t0123456789eE",
        "event",
        "trait",
        "property",
        "page",
        "any",
        "all",
        "of",
        "and",
        "or",
        "not",
        "then",
        "within",
        "days",
        "hour",
        "between",
        "in",
        "exists",
        "count",
        "sum",
        "where",
        "users",
        "account",
        "bucket",
        "tag",
        "everyone",
        "nobody",
        "'x'",
        "'2025-01-01'",
        "1",
        "é",
        "\u2028",
    ]
)


@settings(max_examples=400)
@given(st.text(max_size=200) | st.lists(_ALPHABET, max_size=60).map("".join))
def test_any_text_parses_or_raises_definition_error(text: str) -> None:
    _check_parsed(_parses(text))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(conditions(), st.data())
def test_damaged_text_parses_or_raises_definition_error(tree: Condition, data: Any) -> None:
    # Cutting and pasting bits of valid text reaches deep into the grammar, where random
    # text rarely goes.
    text = to_text(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 8)))
        text = (
            text[:start]
            + data.draw(st.sampled_from(["", " ", "(", ")", "'", "not ", "."]) | _ALPHABET)
            + text[end:]
        )
    _check_parsed(_parses(text))


def test_json_of_a_parsed_tree_is_the_stored_form() -> None:
    tree = parse(REFERENCE)
    assert msgspec.json.decode(to_json(tree))["all"][1] == {
        "kind": "event",
        "type": "page",
        "window": {"last_days": 40},
        "op": "eq",
        "value": 0,
    }
