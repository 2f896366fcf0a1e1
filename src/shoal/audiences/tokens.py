"""The tokens of the audience text form (``text.py``): the tokenizer, a cursor that reads
tokens, values and comparisons for the parser, and the quoting the printer uses.

Tokens are words (keywords, case-insensitive, so stored lower-cased), quoted texts, numbers
and punctuation. Every token keeps its offset so an error can name the line and column;
``#`` starts a comment that runs to the end of the line.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shoal.audiences.model import DefinitionError, Op, check_compare, parse_date

TokenKind = Literal["word", "string", "number", "punct", "end"]
WORD: TokenKind = "word"
STRING: TokenKind = "string"
NUMBER: TokenKind = "number"
PUNCT: TokenKind = "punct"
END: TokenKind = "end"

# Longest first, so ">=" is never read as ">" then "=". "==" is a token of its own only so
# that the parser can say "write '='" instead of a puzzling error about a second "=".
_PUNCT = ("==", "!=", ">=", "<=", "=", ">", "<", "(", ")", "[", "]", ",", ".")
_SPACE = re.compile(r"(?:\s+|#[^\n]*)+")
_WORD = re.compile(r"[^\W\d]\w*")
# ASCII digits only: Python's int() also reads other scripts' digits, which would make two
# different texts print the same.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")

# How each operator is written; the printer uses the same table.
SYMBOLS: dict[str, Op] = {"=": "eq", "!=": "neq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
OP_TEXT: dict[Op, str] = {
    **{op: symbol for symbol, op in SYMBOLS.items()},
    "contains": "contains", "not_contains": "not contains", "starts_with": "starts with",
    "ends_with": "ends with", "regex": "matches", "exists": "exists", "not_exists": "not exists",
    "in": "in", "not_in": "not in", "between": "between", "before": "before", "after": "after",
    "within_last": "within last", "more_than_ago": "more than", "within_next": "within next",
}  # fmt: skip
# Comparison words, longest first so that 'not in' is tried before a shorter phrase.
PHRASES = sorted(
    ((op, words) for op, words in OP_TEXT.items() if op not in SYMBOLS.values()),
    key=lambda item: -len(item[1].split()),
)
COMPARE_HELP = "such as = 'pro', > 2, contains 'x', exists or within last 7 days"
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_HINTS = {
    "&": "write 'and' to combine conditions",
    "|": "write 'or' to combine conditions",
    "!": "write 'not' before a condition, or '!=' to compare",
    "`": "quote texts with ' or \"",
}


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``value`` is the lower-cased word, the decoded text, the number or the
    punctuation; ``source`` is the text as written (for messages)."""

    kind: TokenKind
    value: Any
    pos: int
    source: str

    def is_word(self, *words: str) -> bool:
        """Whether this is one of the keywords ``words`` (any case as written)."""
        return self.kind == WORD and self.value in words

    def is_punct(self, *marks: str) -> bool:
        """Whether this is one of the punctuation marks ``marks``."""
        return self.kind == PUNCT and self.value in marks

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind == END:
            return "the end of the text"
        shown = self.source if len(self.source) <= 40 else self.source[:37] + "..."
        if self.kind == STRING:
            return f"the text {shown}"
        if self.kind == NUMBER:
            return f"the number {shown}"
        return f"'{shown}'"


def where(text: str, pos: int) -> str:
    """``line L, column C`` of offset ``pos`` in ``text`` (both counted from 1)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def fail(text: str, pos: int, message: str) -> DefinitionError:
    """A ``DefinitionError`` that starts with the position, for the marketer to find it."""
    return DefinitionError(f"{where(text, pos)}: {message}")


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; ``DefinitionError`` on a
    character no token can start with, an unclosed text or a bad escape."""
    tokens: list[Token] = []
    pos, size = 0, len(text)
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= size:
            tokens.append(Token(END, None, size, ""))
            return tokens
        char = text[pos]
        if char in "'\"":
            value, end = _string(text, pos)
            tokens.append(Token(STRING, value, pos, text[pos:end]))
        elif number := _NUMBER.match(text, pos):
            end = number.end()
            tokens.append(Token(NUMBER, _number(text, pos, number), pos, text[pos:end]))
        elif word := _WORD.match(text, pos):
            end = word.end()
            # Interned, so a parsed measure or type is the very default object of the
            # model and msgspec's omit_defaults (an identity check) leaves it out of JSON.
            tokens.append(Token(WORD, sys.intern(word.group().lower()), pos, word.group()))
        else:
            mark = next((p for p in _PUNCT if text.startswith(p, pos)), None)
            if mark is None:
                hint = _HINTS.get(char)
                raise fail(
                    text, pos, f"unexpected character {char!r}" + (f"; {hint}" if hint else "")
                )
            end = pos + len(mark)
            tokens.append(Token(PUNCT, mark, pos, mark))
        pos = end


def _number(text: str, pos: int, match: re.Match[str]) -> int | float:
    source = match.group()
    if match.group(1) is None and match.group(2) is None:
        try:
            return int(source)
        except ValueError:  # more digits than Python converts (4300)
            raise fail(text, pos, "this number has too many digits") from None
    value = float(source)
    if not math.isfinite(value):
        raise fail(text, pos, f"the number {source} is too large")
    return value


def _string(text: str, start: int) -> tuple[str, int]:
    """The decoded quoted text at ``start`` and the offset after its closing quote."""
    quote_char = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote_char:
            return "".join(out), pos + 1
        if char in "\r\n":
            # An unclosed quote would otherwise swallow the rest of the definition; saying
            # so at the line end points at the real mistake.
            raise fail(text, start, f"this text has no closing {quote_char} on its line")
        if "\ud800" <= char <= "\udfff":
            raise fail(text, pos, "the text holds an invalid character (a lone surrogate)")
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        code = text[pos + 1 : pos + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            pos += 2
        elif code == "u":
            char, pos = _unicode(text, pos)
            out.append(char)
        else:
            shown = repr(code) if code else "the end of the text"
            raise fail(
                text, pos, f"unknown escape \\ before {shown}; write \\\\ for a backslash "
                "(escapes: \\\\ \\' \\\" \\n \\t \\uXXXX)",
            )  # fmt: skip
    raise fail(text, start, f"this text has no closing {quote_char}")


def _unicode(text: str, pos: int) -> tuple[str, int]:
    """A ``\\uXXXX`` escape at ``pos`` (a surrogate pair takes two), and the offset after."""
    high = _hex4(text, pos)
    if 0xD800 <= high <= 0xDBFF and text.startswith("\\u", pos + 6):
        low = _hex4(text, pos + 6)
        if 0xDC00 <= low <= 0xDFFF:
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), pos + 12
    if 0xD800 <= high <= 0xDFFF:
        raise fail(text, pos, "\\u escape of half a surrogate pair; write the character itself")
    return chr(high), pos + 6


def _hex4(text: str, pos: int) -> int:
    digits = text[pos + 2 : pos + 6]
    if len(digits) < 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise fail(text, pos, "\\u needs four hex digits, e.g. \\u00e9")
    return int(digits, 16)


def quote(value: str) -> str:
    """``value`` as a single-quoted text that ``tokenize`` reads back exactly; characters
    that would be invisible or break the line are escaped."""
    out = ["'"]
    for char in value:
        if char in "\\'":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char.isprintable():
            out.append(char)
        elif ord(char) > 0xFFFF:  # \u takes four digits, so astral characters take a pair
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    out.append("'")
    return "".join(out)


class Cursor:
    """A position in the tokens of ``text``, with the readers of plain values; the parser
    builds on it. ``starts`` are the words that begin a condition (for the hint that an
    'and' is missing)."""

    starts: frozenset[str] = frozenset()

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        """The current token."""
        return self.tokens[self.i]

    def ahead(self, n: int = 1) -> Token:
        """The token ``n`` after the current one (the end token past the end)."""
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def next(self) -> Token:
        """The current token, moving past it (never past the end)."""
        tok = self.tokens[self.i]
        if tok.kind != END:
            self.i += 1
        return tok

    def error(self, at: Token, message: str) -> DefinitionError:
        """An error at ``at``'s line and column."""
        return fail(self.text, at.pos, message)

    def found(self, after_condition: bool = False) -> str:
        """The current token for a message; right after a condition, with a hint when
        another condition starts there (the usual cause: a missing 'and')."""
        tok = self.tok
        missing = after_condition and tok.is_word(*self.starts) and not tok.is_word("not")
        return tok.describe() + (" ('and' or 'or' missing?)" if missing else "")

    def expect(self, mark: str, context: str) -> Token:
        """The punctuation ``mark``, or an error saying what was expected where."""
        if self.tok.is_punct(mark):
            return self.next()
        raise self.error(self.tok, f"expected '{mark}' {context}, found {self.found()}")

    def expect_word(self, word: str, context: str) -> Token:
        """The keyword ``word``, or an error saying what was expected where."""
        if self.tok.is_word(word):
            return self.next()
        raise self.error(self.tok, f"expected '{word}' {context}, found {self.found()}")

    def close(self, opening: Token) -> None:
        """The ')' matching ``opening`` (which usually follows a condition)."""
        if not self.tok.is_punct(")"):
            context = f"expected ')' to close the '(' at {where(self.text, opening.pos)}"
            raise self.error(self.tok, f"{context}, found {self.found(after_condition=True)}")
        self.next()

    def string(self, what: str) -> str:
        """A quoted text."""
        tok = self.tok
        if tok.kind != STRING:
            hint = f"; put it in quotes: '{tok.source}'" if tok.kind in (WORD, NUMBER) else ""
            raise self.error(tok, f"expected {what}, found {tok.describe()}{hint}")
        self.next()
        return str(tok.value)

    def number(self, what: str) -> int | float:
        """A number (whole or decimal)."""
        tok = self.tok
        if tok.kind != NUMBER:
            hint = "; write numbers without quotes" if tok.kind == STRING else ""
            raise self.error(tok, f"expected {what}, found {tok.describe()}{hint}")
        self.next()
        value: int | float = tok.value
        return value

    def integer(self, what: str) -> int:
        """A whole number."""
        tok = self.tok
        value = self.number(what)
        if not isinstance(value, int):
            raise self.error(tok, f"expected {what}, a whole number, found {tok.describe()}")
        return value

    def scalar(self, what: str) -> str | int | float | bool:
        """A quoted text, a number, ``true`` or ``false``."""
        tok = self.tok
        if tok.kind in (STRING, NUMBER):
            self.next()
            value: str | int | float = tok.value
            return value
        if tok.is_word("true", "false"):
            self.next()
            return bool(tok.value == "true")
        hint = f"; put text in quotes: '{tok.source}'" if tok.kind == WORD else ""
        message = f"expected {what} (a quoted text, a number, true or false), found "
        raise self.error(tok, f"{message}{tok.describe()}{hint}")

    def values(self, op: str) -> list[Any]:
        """A non-empty ``[v, ...]`` list of scalars."""
        self.expect("[", f"after '{op}', e.g. {op} ['pro', 'team']")
        if self.tok.is_punct("]"):
            raise self.error(self.tok, f"the list after '{op}' needs at least one value")
        items: list[Any] = [self.scalar("a value in the list")]
        while self.tok.is_punct(","):
            self.next()
            items.append(self.scalar("a value after ','"))
        self.expect("]", "to close the list (or ',' before another value)")
        return items

    def date(self, what: str) -> str:
        """A quoted ISO date, checked now so that the error has a position."""
        tok = self.tok
        value = self.string(what)
        try:
            parse_date(value)
        except ValueError as exc:
            raise self.error(tok, str(exc)) from None
        return value

    def days(self) -> int:
        """``N days`` (or ``1 day``)."""
        days = self.integer("a number of days")
        if not self.tok.is_word("day", "days"):
            raise self.error(self.tok, f"expected 'days' after the number, found {self.found()}")
        self.next()
        return days

    def guard(self, at: Token, check: Callable[[], object]) -> None:
        """Run a model check, reporting its failure at ``at`` in the text's own words."""
        try:
            check()
        except (ValueError, OverflowError, RecursionError) as exc:
            message = str(exc)
            for code, words in OP_TEXT.items():
                message = message.replace(f"'{code}'", f"'{words}'")
            raise self.error(at, message) from None

    def comparison(self, subject: str) -> tuple[Op, Any]:
        """An operator and its value, checked by the model (``subject`` is for messages)."""
        at = self.tok
        op, value = self.operator(subject)
        self.guard(at, lambda: check_compare(op, value))
        return op, value

    def operator(self, subject: str) -> tuple[Op, Any]:
        """The operator (a symbol or a phrase such as 'not contains') and its value."""
        tok = self.tok
        if tok.is_punct(*SYMBOLS):
            self.next()
            if SYMBOLS[tok.value] in ("eq", "neq"):
                return SYMBOLS[tok.value], self.scalar(f"a value after '{tok.value}'")
            return SYMBOLS[tok.value], self.number(f"a number after '{tok.value}'")
        if tok.is_punct("=="):
            raise self.error(tok, "write '=' to compare, not '=='")
        for op, words in PHRASES:
            if all(self.ahead(k).is_word(w) for k, w in enumerate(words.split())):
                self.i += len(words.split())
                return op, self.operand(op, words)
        # A phrase begun but not finished ('not' alone, 'starts' without 'with') gets its
        # possible endings, at the word that went wrong; anything else the general list.
        endings = [words.split()[1] for _, words in PHRASES if words.split()[0] == tok.value]
        if tok.kind == WORD and len(endings) > 0:
            wanted = " or ".join(f"'{word}'" for word in endings)
            wrong = self.ahead()
            raise self.error(wrong, f"expected {wanted} after '{tok.source}', "
                                    f"found {wrong.describe()}")  # fmt: skip
        message = f"expected a comparison after {subject}, {COMPARE_HELP}"
        raise self.error(tok, f"{message}; found {self.found()}")

    def operand(self, op: Op, words: str) -> Any:
        """What follows the operator ``op`` (written ``words``)."""
        if op in ("exists", "not_exists"):
            return None
        if op in ("in", "not_in"):
            return self.values(words)
        if op == "between":
            low = self.number("a number after 'between'")
            self.expect_word("and", "between the two numbers, e.g. between 1 and 5")
            return [low, self.number("a number after 'and'")]
        if op in ("before", "after"):
            return self.date(f"a date in quotes after '{words}', e.g. '2025-01-31'")
        if op in ("within_last", "within_next", "more_than_ago"):
            days = self.days()
            if op == "more_than_ago":
                self.expect_word("ago", "after the days, e.g. more than 30 days ago")
            return days
        return self.string(f"a text in quotes after '{words}'")
