"""The text form of audience definitions, for people to read and write::

    event('Order Completed').count() > 1 and consent('marketing')

``parse`` reads text into the condition tree of ``model.py`` and ``to_text`` (from
``text_format.py``) prints a tree in canonical form: ``parse(to_text(tree)) == tree`` for
every valid tree, and ``to_text(parse(text))`` is a fixed point. The grammar is in
docs/audiences.md ("The text form"). Parsing knows no collection: it rejects what can never
be valid, with the line and column, and the caller still runs ``model.validate``.
"""

from __future__ import annotations

import difflib
from typing import get_args

from shoal.audiences.model import (
    ACCOUNTS,
    PROPERTY_MEASURES,
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
    EventType,
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
from shoal.audiences.text_format import SELECTORS, UNITS, to_text
from shoal.audiences.tokens import END, PHRASES, STRING, SYMBOLS, WORD, Cursor, Token, fail, where

__all__ = ["MAX_LENGTH", "parse", "to_text"]

MAX_LENGTH = 20_000
# Parentheses, 'not' and nested conditions each take a few Python frames; a valid tree
# nests at most model.MAX_DEPTH (12) deep, so 50 levels of text leave room for redundant
# parentheses and stay far from the interpreter's recursion limit.
MAX_NESTING = 50

MEASURES: tuple[Measure, ...] = get_args(Measure)
MODIFIERS = ("where", "within", "between", "since", "until")
_NAMED = {"audience": "audience key", "list": "list name", "tag": "tag", "consent": "category"}
_LEAVES = (*SELECTORS, "trait", "computed", *_NAMED, "account", "users", "bucket")
STARTS = (*_LEAVES, "property", "everyone", "nobody", "not", "all")
# Every word of the grammar, so that a misspelt one can be called unknown.
_OTHER_WORDS = ("any", "of", "and", "or", "then", "last", "next", "day", "days", "ago", "with")
_KNOWN = frozenset(
    (*STARTS, *MEASURES, *MODIFIERS, *UNITS, *(unit + "s" for unit in UNITS), *_OTHER_WORDS,
     "true", "false", *(word for _, words in PHRASES for word in words.split()))
)  # fmt: skip
_EXAMPLE = "trait('plan') = 'pro'"
# The longer messages, in one place so that their wording can be reviewed together.
_HELP = {
    "starts": "a condition starts with trait(...), event(...), page(...), audience(...), "
    "list(...), tag(...), consent(...), account(...), users(...), bucket(...), everyone "
    "or nobody",
    "property": "property(...) compares an event's property, so it goes inside .where(...), "
    "e.g. event('Order Completed').where(property('revenue') > 100)",
    "no name": "event() needs the event name in quotes, e.g. event('Order Completed'); "
    "any() is every event",
    "bare compare": "put a measure before the comparison, e.g. "
    "event('Order Completed').count() >= 2",
    "bare within": "to count only recent events write .within(N days) after the event, "
    "e.g. event('Signed Up').within(7 days)",
    "measure": "after an event write .where(...), .within(N days), .between(...), "
    ".since(...), .until(...) or a measure: .count(), .sum('p'), .avg('p'), .min('p'), "
    ".max('p'), .distinct('p'), .first() or .last()",
    "step measure": "a sequence step takes no measure or comparison: "
    "event('A') then event('B') within 1 hour",
    "step window": "a time window belongs to the first step of a sequence: "
    "event('A').within(7 days) then event('B') within 1 hour",
}


class _Parser(Cursor):
    """Recursive descent over the tokens; every method consumes exactly its construct."""

    starts = frozenset(STARTS)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        # What the conditions at each level are about: None at the top until account(...)
        # or users(...) pins it (self.top), then USERS or ACCOUNTS inside those.
        self.scopes: list[str | None] = [None]
        self.top: tuple[str, Token] | None = None

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(self.tok, f"conditions nest more than {MAX_NESTING} levels deep")

    # -- expressions --------------------------------------------------------------------

    def expression(self, inside: bool) -> Condition:
        """``or := and ('or' and)*``; ``inside`` is true within an event's ``.where(...)``."""
        self.enter()
        items = [self.conjunction(inside)]
        while self.tok.is_word("or"):
            self.next()
            items.append(self.conjunction(inside))
        self.depth -= 1
        return items[0] if len(items) == 1 else AnyOf(items)

    def conjunction(self, inside: bool) -> Condition:
        items = [self.unary(inside)]
        while self.tok.is_word("and"):
            self.next()
            items.append(self.unary(inside))
        return items[0] if len(items) == 1 else All(items)

    def unary(self, inside: bool) -> Condition:
        if not self.tok.is_word("not"):
            return self.primary(inside)
        self.next()
        self.enter()
        node = Not(self.unary(inside))
        self.depth -= 1
        return node

    def primary(self, inside: bool) -> Condition:
        tok = self.tok
        if tok.is_punct("("):
            self.next()
            node = self.expression(inside)
            self.close(tok)
            return node
        if tok.is_word("everyone", "nobody"):
            self.next()
            return All([]) if tok.value == "everyone" else AnyOf([])
        if tok.is_word("all", "any") and self.ahead().is_word("of"):
            return self.group(inside)
        if tok.is_word("property"):
            if not inside:
                raise self.error(tok, _HELP["property"])
            return self.compare(Property)  # checked with its event
        if not tok.is_word(*_LEAVES):
            raise self.error(tok, self.not_a_condition(tok))
        if inside:
            message = "inside .where(...) only property('name') conditions can appear"
            raise self.error(tok, f"{message}, not '{tok.source}'")
        node = self.leaf(tok.value)
        # The leaf's own rules (operators against values, names, windows, ranges) do not
        # depend on the collection, so checking them now gives the marketer a position.
        self.guard(tok, lambda: validate(node, ACCOUNTS if isinstance(node, Users) else USERS))
        return node

    def not_a_condition(self, tok: Token) -> str:
        if tok.is_word("all"):
            return "expected 'of' after 'all': all of (condition, ...)"
        if tok.kind == WORD and tok.value not in _KNOWN:
            close = difflib.get_close_matches(tok.value, STARTS, n=1)
            return f"unknown word '{tok.source}'; " + (
                f"did you mean '{close[0]}'?" if close else _HELP["starts"]
            )
        if tok.kind == STRING:
            return f"expected a condition, found {tok.describe()}; names go inside a " \
                   f"condition, e.g. {_EXAMPLE}"  # fmt: skip
        return f"expected a condition (e.g. {_EXAMPLE}), found {tok.describe()}"

    def group(self, inside: bool) -> Condition:
        """``all of (c, ...)`` / ``any of (c, ...)``: the explicit forms the printer uses
        for one-element lists, which infix 'and'/'or' cannot write."""
        word = self.next().value
        self.next()
        opening = self.expect("(", f"after '{word} of', e.g. {word} of ({_EXAMPLE})")
        items = [self.expression(inside)]
        while self.tok.is_punct(","):
            self.next()
            items.append(self.expression(inside))
        self.close(opening)
        return All(items) if word == "all" else AnyOf(items)

    # -- leaves -------------------------------------------------------------------------

    def leaf(self, word: str) -> Condition:
        if word in SELECTORS:
            return self.event()
        if word in ("trait", "computed"):
            return self.compare(Trait if word == "trait" else Computed)
        if word == "account":
            return Account(where=self.scoped(USERS, ACCOUNTS))
        if word == "users":
            return self.users()
        self.next()
        if word == "bucket":
            self.expect("(", "after 'bucket', e.g. bucket(0, 10)")
            start = self.integer("the first bucket of the range (0 to 99)")
            self.expect(",", "between the two numbers, e.g. bucket(0, 10)")
            end = self.integer("the end of the range (1 to 100)")
            self.expect(")", "after the bucket range")
            return Bucket(start, end)
        self.expect("(", f"after '{word}', e.g. {word}('name')")
        at = self.tok
        name = self.string(f"the {_NAMED[word]} in quotes, e.g. {word}('name')")
        if not name:
            raise self.error(at, f"the {_NAMED[word]} cannot be empty")
        self.expect(")", f"after the {_NAMED[word]}")
        if word == "audience":
            return Member(name)
        return InList(name) if word == "list" else Tagged(name) if word == "tag" else Consent(name)

    def compare(self, kind: type[Trait] | type[Computed] | type[Property]) -> Condition:
        word = self.next().value
        self.expect("(", f"after '{word}', e.g. {word}('plan') = 'pro'")
        name = self.string(f"the {word} name in quotes, e.g. {word}('plan')")
        self.expect(")", f"after the {word} name")
        op, value = self.comparison(f"{word}(...)")
        return kind(name=name, op=op, value=value)

    def scoped(self, need: str, inner: str) -> Condition:
        """The condition of ``account(...)`` (needs users, is about accounts) or of
        ``users(...)`` (needs accounts, is about users)."""
        tok = self.next()
        scope = self.scopes[-1]
        wrong = f"{tok.value}(...) is for audiences of {need}, but"
        if scope is None and self.top is None:
            self.top = (need, tok)
        elif scope is None and self.top is not None and self.top[0] != need:
            other = self.top[1]
            at = where(self.text, other.pos)
            message = f"{other.value}(...) at {at} is for audiences of {inner}"
            raise self.error(tok, f"{wrong} {message}; an audience cannot have both")
        elif scope is not None and scope != need:
            raise self.error(tok, f"{wrong} here the conditions are about {scope}")
        opening = self.expect("(", f"after '{tok.value}', e.g. {tok.value}({_EXAMPLE})")
        self.scopes.append(inner)
        node = self.expression(inside=False)
        self.scopes.pop()
        self.close(opening)
        return node

    def users(self) -> Condition:
        where_ = self.scoped(ACCOUNTS, USERS)
        if not self.tok.is_punct("."):
            return Users(where=where_)
        self.next()
        self.expect_word("count", "after 'users(...).', e.g. users(...).count() >= 2")
        self.expect("(", "after 'count'")
        self.expect(")", "after 'count('")
        op, value = self.comparison("users(...).count()")
        return Users(where=where_, op=op, value=value)

    # -- events and sequences -----------------------------------------------------------

    def selector(self) -> tuple[EventType, str | None]:
        tok = self.next()
        kind = SELECTORS[tok.value]
        self.expect("(", f"after '{tok.source}', e.g. {tok.value}('Order Completed')")
        name = None
        if kind == "track" and self.tok.is_punct(")"):
            raise self.error(self.tok, _HELP["no name"])
        if kind == "track":
            name = self.string("the event name in quotes, e.g. event('Order Completed')")
        elif self.tok.kind == STRING:  # page('Home'); a name is optional for the others
            name = self.next().value
        self.expect(")", f"after the {tok.value} name" if name else f"after '{tok.value}('")
        return kind, name

    def modifiers(self) -> tuple[Condition | None, Window | None, Token | None]:
        """``.where(...)`` and one time window, in either order."""
        where_: Condition | None = None
        window: Window | None = None
        window_at: Token | None = None
        while self.tok.is_punct(".") and self.ahead().is_word(*MODIFIERS):
            self.next()
            tok = self.next()
            opening = self.expect("(", f"after '.{tok.source}'")
            if tok.value == "where" and where_ is not None:
                raise self.error(tok, "an event takes one .where(...); join with 'and' in it")
            if tok.value == "where":
                where_ = self.expression(inside=True)
            elif window is not None:
                raise self.error(tok, "an event takes one time window; .between(a, b) has both")
            else:
                window, window_at = self.window(tok.value), tok
            self.close(opening)
        return where_, window, window_at

    def window(self, word: str) -> Window:
        if word == "within":
            return Window(last_days=self.days())
        if word == "between":
            since = self.date("the first date in quotes, e.g. .between('2025-01-01', '2025-02-01')")
            self.expect(",", "between the two dates")
            return Window(since=since, until=self.date("the second date in quotes"))
        value = self.date(f"a date in quotes, e.g. .{word}('2025-01-31')")
        return Window(since=value) if word == "since" else Window(until=value)

    def event(self) -> Condition:
        kind, name = self.selector()
        where_, window, _ = self.modifiers()
        if self.tok.is_word("then"):
            return self.sequence(Step(type=kind, event=name, where=where_), window)
        if self.tok.is_punct(*SYMBOLS, "=="):
            raise self.error(self.tok, _HELP["bare compare"])
        if self.tok.is_word("within"):
            raise self.error(self.tok, _HELP["bare within"])
        if not self.tok.is_punct("."):  # the shorthand: performed at least once
            return Event(type=kind, event=name, where=where_, window=window)
        self.next()
        measure = self.tok
        if not measure.is_word(*MEASURES):
            raise self.error(measure, f"{_HELP['measure']}; found {measure.describe()}")
        self.next()
        opening = self.expect("(", f"after '{measure.source}'")
        prop = None
        if measure.value in PROPERTY_MEASURES:
            prop = self.string(f"the property in quotes, e.g. .{measure.value}('revenue')")
        self.close(opening)
        if self.tok.is_punct("."):
            message = "the measure comes last: put .where(...) and the time window before"
            raise self.error(self.tok, f"{message} .{measure.value}()")
        op, value = self.comparison(f".{measure.value}()")
        if self.tok.is_word("then"):
            raise self.error(self.tok, _HELP["step measure"])
        return Event(type=kind, event=name, where=where_, window=window, measure=measure.value,
                     property=prop, op=op, value=value)  # fmt: skip

    def sequence(self, first: Step, window: Window | None) -> Condition:
        self.next()  # 'then'
        followed = not self.tok.is_word("not")
        if not followed:
            self.next()
        if not self.tok.is_word(*SELECTORS):
            message = "expected the next event after 'then', e.g. then event('Order Completed')"
            raise self.error(self.tok, f"{message}; found {self.found()}")
        kind, name = self.selector()
        where_, _, window_at = self.modifiers()
        if window_at is not None:
            raise self.error(window_at, _HELP["step window"])
        if self.tok.is_punct("."):
            raise self.error(self.tok, _HELP["step measure"])
        self.expect_word("within", "after the second step, e.g. within 1 hour")
        count = self.integer("a number, e.g. within 1 hour")
        unit = self.tok.value.removesuffix("s") if self.tok.kind == WORD else ""
        if unit not in UNITS:
            raise self.error(self.tok, f"expected seconds, minutes, hours or days, "
                                       f"found {self.found()}")  # fmt: skip
        self.next()
        if self.tok.is_word("then"):
            raise self.error(self.tok, "a sequence has two steps; join sequences with 'and'")
        then = Step(type=kind, event=name, where=where_)
        return Sequence(first=first, then=then, within_s=count * UNITS[unit],
                        followed=followed, window=window)  # fmt: skip

    def finish(self) -> None:
        tok = self.tok
        if tok.is_punct(")"):
            raise self.error(tok, "this ')' closes no '('")
        if tok.kind != END:
            message = "expected 'and', 'or' or the end of the text"
            raise self.error(tok, f"{message}, found {self.found(after_condition=True)}")


def parse(text: str) -> Condition:
    """The condition tree the audience text describes.

    Raises ``DefinitionError`` (only) when the text cannot be read or can never be valid,
    with a message that starts with the line and column, e.g. ``line 1, column 23:
    expected ')' after the event name, found 'and'``. Rules that depend on the audience's
    collection (``account(...)`` only for users, sizes) are left to ``model.validate``.
    """
    if len(text) > MAX_LENGTH:
        raise DefinitionError(f"the text is longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    if parser.tok.kind == END:
        raise fail(text, 0, f"the text is empty; write a condition such as {_EXAMPLE}")
    try:
        node = parser.expression(inside=False)
    except RecursionError:  # a safety net: MAX_NESTING should stop deep text first
        raise fail(text, parser.tok.pos, "the conditions nest too deeply") from None
    parser.finish()
    return node
