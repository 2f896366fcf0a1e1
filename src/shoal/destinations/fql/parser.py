"""FQL text to a condition tree (recursive descent; ``!`` binds tightest, then ``and``,
then ``or``; parentheses make groups).

Each comparison needs a field on one side and a value on the other. A value on the left
is turned around (``5 < x`` is ``x > 5``); ``"a" in properties.tags`` tests a list field.
``match(f, "abc*")`` and ``match(f, "*abc")`` without other wildcards become the trees'
``starts_with`` and ``ends_with`` (``conditions.Condition``), so the forms map one to one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shoal.destinations.conditions import (
    MAX_DEPTH,
    MAX_GROUP,
    AnyNode,
    Condition,
    Not,
    Trigger,
)
from shoal.destinations.fql.lexer import FQLError, Lexer, Token, describe
from shoal.destinations.functions import FUNCTIONS, PREDICATES
from shoal.destinations.paths import join_path

ALL = "all"
"""The statement that matches every event (Segment's ``"if": "all"``)."""
_COMPARE = {"=": "is", "!=": "is_not", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_FLIP = {"=": "=", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_LITERALS = {"true": True, "false": False, "null": None}
_PREDICATE_ERROR = "contains() and match() are conditions"


@dataclass(frozen=True, slots=True)
class Subject:
    """A field, or a value function of a field."""

    field: str
    fn: str | None
    start: int


@dataclass(frozen=True, slots=True)
class Value:
    """A literal: string, number, boolean, null or a list of those."""

    value: Any
    start: int


def parse(text: str) -> Trigger:
    """The tree of an FQL statement; ``FQLError`` (a ``ValueError``) says where it fails."""
    if text.strip() == ALL:
        return Trigger()
    lexer = Lexer(text)
    parser = _Parser(lexer, lexer.tokens())
    if parser.peek().kind == "end":
        raise lexer.error("the statement is empty; write `all` to match every event", 0)
    node = parser.expression(0)
    end = parser.peek()
    if end.kind != "end":
        raise lexer.error(f"expected 'and', 'or' or the end, found {describe(end)}", end.start)
    if isinstance(node, Trigger):
        return node
    try:
        return Trigger(match="all", conditions=[node])
    except ValidationError as exc:
        raise lexer.error(_reason(exc), 0) from None


class _Parser:
    def __init__(self, lexer: Lexer, tokens: list[Token]) -> None:
        self.lexer = lexer
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, reason: str, token: Token | int) -> FQLError:
        return self.lexer.error(reason, token if isinstance(token, int) else token.start)

    def expect(self, symbol: str, after: str) -> Token:
        token = self.take()
        if token.kind != "symbol" or token.value != symbol:
            raise self.error(f"expected {symbol!r} {after}, found {describe(token)}", token)
        return token

    def _is(self, token: Token, *symbols: str) -> bool:
        return token.kind == "symbol" and token.value in symbols

    def expression(self, depth: int) -> AnyNode:
        """An ``or`` chain of ``and`` chains."""
        return self._chain(
            "or", depth, lambda: self._chain("and", depth, lambda: self.unary(depth))
        )

    def _chain(self, word: str, depth: int, operand: Callable[[], AnyNode]) -> AnyNode:
        first = self.peek()
        nodes = [operand()]
        while self.peek().keyword == word:
            joiner = self.take()
            if len(nodes) >= MAX_GROUP:
                reason = f"at most {MAX_GROUP} conditions in a row; group some in parentheses"
                raise self.error(reason, joiner)
            nodes.append(operand())
        if len(nodes) == 1:
            return nodes[0]
        try:
            return Trigger(match="all" if word == "and" else "any", conditions=nodes)
        except ValidationError as exc:
            raise self.error(_reason(exc), first) from None

    def unary(self, depth: int) -> AnyNode:
        """``!`` node, a parenthesized expression, or a comparison."""
        token = self.peek()
        if depth > MAX_DEPTH:
            raise self.error(f"conditions nest at most {MAX_DEPTH} levels deep", token)
        if self._is(token, "("):
            self.take()
            node = self.expression(depth + 1)
            self.expect(")", f"to close the '(' at column {token.start + 1}")
            return node
        if not self._is(token, "!"):
            return self.comparison()
        self.take()
        if self._is(self.peek(), "(", "!"):
            return Not(**{"not": self.unary(depth + 1)})
        operand = self.operand()
        after = self.peek()
        if self._is(after, *_COMPARE) or after.keyword == "in":
            reason = "'!' negates what follows it; wrap the comparison: !(a = 1)"
            raise self.error(reason, token)
        if isinstance(operand, Value):
            raise self.error("'!' negates a condition, not a value", operand.start)
        if isinstance(operand, Subject):
            operand = self._condition(operand, "is", True)
        return Not(**{"not": operand})

    def comparison(self) -> AnyNode:
        """``operand op operand``, or a predicate call or a bare field alone."""
        left = self.operand()
        op = self.peek()
        is_op = self._is(op, *_COMPARE)
        if isinstance(left, Condition):
            if is_op or op.keyword == "in":
                raise self.error(f"{_PREDICATE_ERROR}; they cannot be compared", op)
            return left
        if not is_op and op.keyword != "in":
            if isinstance(left, Subject):
                return self._condition(left, "is", True)  # a bare field: is it true?
            raise self.error(
                "a value alone is not a condition; compare a field with it", left.start
            )
        self.take()
        right = self.operand()
        if isinstance(right, Condition):
            raise self.error(f"{_PREDICATE_ERROR}; they cannot be compared", op)
        if op.keyword == "in":
            return self._in(left, right, op)
        if isinstance(left, Subject) and isinstance(right, Value):
            return self._compare(left, op.value, right)
        if isinstance(left, Value) and isinstance(right, Subject):
            return self._compare(right, _FLIP[op.value], left)
        if isinstance(left, Subject):
            raise self.error("compare a field with a value (two fields cannot be compared)", op)
        raise self.error("one side of a comparison must be a field", op)

    def _compare(self, subject: Subject, symbol: str, value: Value) -> Condition:
        op = _COMPARE[symbol]
        if op in ("gt", "gte", "lt", "lte") and (
            isinstance(value.value, bool) or not isinstance(value.value, int | float | str)
        ):
            raise self.lexer.error(f"{symbol!r} compares numbers", value.start)
        return self._condition(subject, op, value.value)

    def _in(self, left: Subject | Value, right: Subject | Value, op: Token) -> Condition:
        if isinstance(left, Subject) and isinstance(right, Value):
            if not isinstance(right.value, list):
                raise self.lexer.error('\'in\' needs a list on its right: ["a", "b"]', right.start)
            return self._condition(left, "in", right.value)
        if isinstance(left, Value) and isinstance(right, Subject):
            if isinstance(left.value, list):
                raise self.lexer.error("a list cannot be in a list field", left.start)
            return self._condition(right, "includes", left.value)
        raise self.error("'in' needs a field and a list of values", op)

    def _condition(self, subject: Subject, op: str, value: Any) -> Condition:
        try:
            return Condition(field=subject.field, fn=subject.fn, op=op, value=value)
        except ValidationError as exc:
            raise self.error(_reason(exc), subject.start) from None

    def operand(self) -> Subject | Value | Condition:
        """A literal, a list, a field, a function of a field, or a predicate call."""
        token = self.take()
        if token.kind in ("string", "number"):
            return Value(token.value, token.start)
        if token.kind == "symbol" and token.value == "[":
            return Value(self._list(token), token.start)
        if token.kind != "path":
            raise self.error(f"expected a field or a value, found {describe(token)}", token)
        if token.keyword in _LITERALS:
            return Value(_LITERALS[token.keyword], token.start)
        if token.keyword is not None:
            raise self.error(f"expected a field or a value, found {describe(token)}", token)
        after = self.peek()
        if not (after.kind == "symbol" and after.value == "("):
            return Subject(join_path(token.value), None, token.start)
        name = token.text
        if name in PREDICATES:
            return self._predicate(token)
        if name not in FUNCTIONS:
            known = ", ".join((*PREDICATES, *FUNCTIONS))
            raise self.error(f"unknown function {name!r} (functions: {known})", token)
        self.take()
        subject = self._field(f"{name}()")
        self.expect(")", f"after {name}()'s argument")
        return Subject(subject.field, name, token.start)

    def _field(self, where: str) -> Subject:
        token = self.take()
        if token.kind != "path" or token.keyword is not None:
            raise self.error(
                f"{where} takes a field, e.g. properties.name; found {describe(token)}", token
            )
        after = self.peek()
        if after.kind == "symbol" and after.value == "(":
            raise self.error(f"{where} takes a field, not a function call", token)
        return Subject(join_path(token.value), None, token.start)

    def _predicate(self, name: Token) -> Condition:
        self.take()  # "("
        first = self.peek()
        subject = self.operand()
        if not isinstance(subject, Subject):
            raise self.error(
                f'{name.text}() takes a field first, e.g. {name.text}(event, "x")', first
            )
        self.expect(",", f"between {name.text}()'s arguments")
        needle = self.take()
        if needle.kind != "string":
            raise self.error(
                f"{name.text}()'s second argument is a string, found {describe(needle)}", needle
            )
        self.expect(")", f"after {name.text}()'s arguments")
        if name.text == "contains":
            return self._condition(subject, "contains", needle.value)
        return self._condition(subject, "match", needle.value)

    def _list(self, opening: Token) -> list[Any]:
        items: list[Any] = []
        if self.peek().kind == "symbol" and self.peek().value == "]":
            self.take()
            return items
        while True:
            token = self.take()
            if token.kind in ("string", "number"):
                items.append(token.value)
            elif token.kind == "path" and token.keyword in _LITERALS:
                items.append(_LITERALS[token.keyword])
            else:
                raise self.error(
                    "a list holds values (strings, numbers, true, false, null); "
                    f"found {describe(token)}",
                    token,
                )
            close = self.take()
            if close.kind == "symbol" and close.value == "]":
                return items
            if not (close.kind == "symbol" and close.value == ","):
                raise self.error(
                    f"expected ',' or ']' in the list opened at column {opening.start + 1}, "
                    f"found {describe(close)}",
                    close,
                )


def _reason(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
