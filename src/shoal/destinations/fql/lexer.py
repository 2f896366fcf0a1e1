"""FQL text to tokens, each with its offset so errors can point at it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["path", "string", "number", "symbol", "end"]
KEYWORDS = frozenset({"and", "or", "in", "true", "false", "null"})
MAX_LENGTH = 10_000
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_SYMBOLS = ("!=", "<=", ">=", "(", ")", "[", "]", ",", "!", "=", "<", ">")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class FQLError(ValueError):
    """FQL that does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, reason: str, position: int, source: str = "") -> None:
        self.reason = reason
        self.position = position
        self.source = source
        super().__init__(f"invalid FQL at column {position + 1}: {reason}")

    @property
    def column(self) -> int:
        """The 1-based column of the problem."""
        return self.position + 1

    def pointer(self) -> str:
        """The statement with a caret under the problem (for terminals)."""
        line = self.source.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * self.position}^"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its value (names of a path, a literal, a symbol), its offset."""

    kind: Kind
    value: Any
    start: int
    text: str
    """The token as written (for messages)."""
    keyword: str | None = None
    """``and``, ``or``, ... when the token is an unescaped keyword."""


def describe(token: Token) -> str:
    """How an error message names a token."""
    return "the end of the statement" if token.kind == "end" else repr(token.text)


class Lexer:
    """Splits one statement into tokens."""

    def __init__(self, source: str) -> None:
        if len(source) > MAX_LENGTH:
            raise FQLError(f"a statement is at most {MAX_LENGTH} characters", MAX_LENGTH, "")
        self.source = source
        self.pos = 0

    def error(self, reason: str, position: int) -> FQLError:
        """An error pointing at ``position``."""
        return FQLError(reason, position, self.source)

    def tokens(self) -> list[Token]:
        """Every token, ending with an ``end`` token."""
        out = []
        while True:
            token = self._next()
            out.append(token)
            if token.kind == "end":
                return out

    def _next(self) -> Token:
        src = self.source
        while self.pos < len(src) and src[self.pos].isspace():
            self.pos += 1
        start = self.pos
        if start >= len(src):
            return Token("end", None, start, "")
        char = src[start]
        if char in "\"'":
            return self._string(char)
        number = _NUMBER.match(src, start)
        if number and (char.isdigit() or char == "-"):
            self.pos = number.end()
            if self.pos < len(src) and (src[self.pos] in NAME_CHARS or src[self.pos] == "."):
                raise self.error(f"{src[start : self.pos + 1]!r} is not a number", start)
            text = number.group()
            value: Any = float(text) if number.group(1) or number.group(2) else int(text)
            return Token("number", value, start, text)
        if char in NAME_CHARS or char == "\\":
            return self._path()
        for symbol in _SYMBOLS:
            if src.startswith(symbol, start):
                self.pos += len(symbol)
                return Token("symbol", symbol, start, symbol)
        raise self.error(f"unexpected character {char!r}", start)

    def _path(self) -> Token:
        src, start = self.source, self.pos
        names: list[str] = []
        current: list[str] = []
        escaped_first = src[start] == "\\"
        while self.pos < len(src):
            char = src[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(src):
                    raise self.error("a field path ends with a lone '\\'", self.pos)
                current.append(src[self.pos + 1])
                self.pos += 2
            elif char in NAME_CHARS:
                current.append(char)
                self.pos += 1
            elif char == ".":
                if not current:
                    raise self.error(
                        "a field path has an empty name ('..' or a leading '.')", self.pos
                    )
                names.append("".join(current))
                current = []
                self.pos += 1
            else:
                break
        if not current:
            raise self.error("a field path ends with '.'", self.pos - 1)
        names.append("".join(current))
        text = src[start : self.pos]
        keyword = text if not escaped_first and len(names) == 1 and text in KEYWORDS else None
        return Token("path", tuple(names), start, text, keyword)

    def _string(self, quote: str) -> Token:
        src, start = self.source, self.pos
        out: list[str] = []
        i = start + 1
        while i < len(src):
            char = src[i]
            if char == quote:
                self.pos = i + 1
                return Token("string", "".join(out), start, src[start : i + 1])
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(src):
                break
            code = src[i + 1]
            if code in "\"'\\/":
                out.append(code)
                i += 2
            elif code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
            elif code == "u":
                char_code, i = self._unicode(i)
                out.append(char_code)
            else:
                raise self.error(f"unknown escape '\\{code}' in a string", i)
        raise self.error("a string is not closed", start)

    def _unicode(self, at: int) -> tuple[str, int]:
        """A ``\\uXXXX`` escape (or a surrogate pair of them) at ``at``; the char and the
        offset after it."""
        digits = self.source[at + 2 : at + 6]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self.error("\\u needs four hex digits", at)
        code = int(digits, 16)
        after = at + 6
        if 0xD800 <= code < 0xDC00 and self.source.startswith("\\u", after):
            low_digits = self.source[after + 2 : after + 6]
            if len(low_digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in low_digits):
                low = int(low_digits, 16)
                if 0xDC00 <= low < 0xE000:
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), after + 6
        if 0xD800 <= code < 0xE000:
            raise self.error("\\u escape is half of a surrogate pair", at)
        return chr(code), after
