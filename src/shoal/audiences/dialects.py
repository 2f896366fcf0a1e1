"""What differs between SQL engines when evaluating audiences, as sqlglot expressions.

sqlglot transpiles most of a compiled audience by itself; the pieces here are the ones where
engines disagree on meaning, not just spelling: reading a JSON scalar as text (ClickHouse's
``JSONExtractString`` turns a missing key into ``''``), turning text into a number or a time
without failing on bad values (PostgreSQL has no ``TRY_CAST``), ``ends with`` (PostgreSQL has
no ``ends_with``) and partial regular-expression matches (Snowflake's ``REGEXP_LIKE`` matches
the whole string). Every dialect registers one ``Dialect`` in ``DIALECTS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

# What the reference evaluator and every engine agree is a number or a date in text form.
NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
DATE_RE = (
    r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?"
    r"(Z|[-+]([01][0-9]|2[0-3]):?[0-5][0-9])?$"
)
OFFSET_RE = r"(Z|[-+][0-9]{2}:?[0-9]{2})$"
Path = Sequence[str | int]


def _lit(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _case(cond: exp.Expr, then: exp.Expr) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=cond, true=then)])


_PG_REAL_DAY = sqlglot.parse_one(
    "CAST(SUBSTRING(:x, 9, 2) AS INT) <= EXTRACT(DAY FROM MAKE_DATE(CAST(SUBSTRING(:x, 1, 4) "
    "AS INT), CAST(SUBSTRING(:x, 6, 2) AS INT), 1) + INTERVAL '1 month' - INTERVAL '1 day')",
    dialect="postgres",
)


def _path(path: Path) -> exp.JSONPath:
    parts: list[exp.Expr] = [exp.JSONPathRoot()]
    for key in path:
        parts.append(
            exp.JSONPathSubscript(this=key) if isinstance(key, int) else exp.JSONPathKey(this=key)
        )
    return exp.JSONPath(expressions=parts)


@dataclass(frozen=True)
class Dialect:
    """The engine-specific building blocks of compiled audiences."""

    name: str

    def json_text(self, column: exp.Expr, path: Path) -> exp.Expr:
        """The scalar at ``path`` as text; ``NULL`` when missing or JSON ``null``."""
        return exp.JSONExtractScalar(this=column, expression=_path(path))

    def json_raw(self, column: exp.Expr, path: Path) -> exp.Expr:
        """The JSON at ``path`` as JSON text (``true`` vs ``"true"``): to tell a boolean from
        a string where that matters (consent). An empty path is the column's own text (a
        materialized value)."""
        if not path:
            return exp.Cast(this=column, to=exp.DataType.build("text"))
        return self._json_raw(column, path)

    def _json_raw(self, column: exp.Expr, path: Path) -> exp.Expr:
        extract = exp.JSONExtract(this=column, expression=_path(path))
        return exp.Cast(this=extract, to=exp.DataType.build("text"))

    def matches(self, text: exp.Expr, pattern: str) -> exp.Expr:
        """Whether ``pattern`` occurs anywhere in ``text``."""
        return exp.RegexpLike(this=text, expression=_lit(pattern))

    def to_number(self, text: exp.Expr) -> exp.Expr:
        """The number in ``text`` as a double, ``NULL`` for anything else."""
        return _case(
            self.matches(text, NUMBER_RE),
            exp.Cast(this=text.copy(), to=exp.DataType.build("double")),
        )

    def to_epoch_ms(self, text: exp.Expr) -> exp.Expr:
        """Milliseconds since the epoch of an ISO date in ``text`` (UTC without an offset),
        rounded half away from zero; surrounding spaces are ignored."""
        text = exp.Trim(this=text)
        zoned = exp.TryCast(this=text.copy(), to=exp.DataType.build("timestamptz"))
        naive = exp.TryCast(this=text.copy(), to=exp.DataType.build("timestamp"))
        # Each branch converts on its own: mixing the two types would apply the session's
        # time zone to the naive one.
        millis = exp.If(
            this=self.matches(text, OFFSET_RE),
            true=exp.func("epoch_ms", zoned),
            false=exp.func("epoch_ms", naive),
        )
        return _case(self.matches(text, DATE_RE), millis)

    def ends_with(self, text: exp.Expr, suffix: str) -> exp.Expr:
        """Whether ``text`` ends with ``suffix``."""
        return exp.EndsWith(this=text, expression=_lit(suffix))


class Postgres(Dialect):
    """PostgreSQL: JSON columns of type ``json``; casts guarded by patterns."""

    def json_text(self, column: exp.Expr, path: Path) -> exp.Expr:
        if not path:
            return exp.JSONBExtractScalar(
                this=column, expression=exp.Literal.string("{}")
            )  # ``#>> '{}'``: the root scalar as text
        return exp.Anonymous(
            this="json_extract_path_text",
            expressions=[column, *(_lit(str(key)) for key in path)],
        )

    def _json_raw(self, column: exp.Expr, path: Path) -> exp.Expr:
        extract = exp.Anonymous(
            this="json_extract_path", expressions=[column, *(_lit(str(key)) for key in path)]
        )
        return exp.Cast(this=extract, to=exp.DataType.build("text"))

    def to_epoch_ms(self, text: exp.Expr) -> exp.Expr:
        text = exp.Trim(this=text)
        zoned = exp.Cast(this=text.copy(), to=exp.DataType.build("timestamptz"))
        naive = exp.AtTimeZone(
            this=exp.Cast(this=text.copy(), to=exp.DataType.build("timestamp")),
            zone=_lit("UTC"),
        )
        moment = exp.Case(ifs=[exp.If(this=self.matches(text, OFFSET_RE), true=zoned)])
        moment.set("default", naive)
        seconds = exp.Extract(this=exp.var("epoch"), expression=moment)
        millis = exp.Round(this=exp.Mul(this=seconds, expression=exp.Literal.number(1000)))
        as_ms = exp.Cast(this=millis, to=exp.DataType.build("bigint"))
        # PostgreSQL's casts fail the whole query on 2025-02-30: check the day of the month
        # first (CASE evaluates a branch only when its condition holds).
        real_day = exp.replace_placeholders(_PG_REAL_DAY.copy(), x=text.copy())
        return _case(self.matches(text, DATE_RE), _case(real_day, as_ms))

    def ends_with(self, text: exp.Expr, suffix: str) -> exp.Expr:
        return exp.EQ(
            this=exp.Right(this=text, expression=exp.Literal.number(len(suffix))),
            expression=_lit(suffix),
        )


class ClickHouse(Dialect):
    """ClickHouse (and chDB): ``JSONExtract`` into a nullable string, ``OrNull`` parsers."""

    def json_text(self, column: exp.Expr, path: Path) -> exp.Expr:
        keys = [
            exp.Literal.number(key + 1) if isinstance(key, int) else _lit(key) for key in path
        ]  # ClickHouse counts array elements from 1.
        return exp.Anonymous(
            this="JSONExtract", expressions=[column, *keys, _lit("Nullable(String)")]
        )

    def _json_raw(self, column: exp.Expr, path: Path) -> exp.Expr:
        keys = [exp.Literal.number(k + 1) if isinstance(k, int) else _lit(k) for k in path]
        return exp.Anonymous(this="JSONExtractRaw", expressions=[column, *keys])

    def to_number(self, text: exp.Expr) -> exp.Expr:
        return _case(self.matches(text, NUMBER_RE), exp.func("toFloat64OrNull", text.copy()))

    def to_epoch_ms(self, text: exp.Expr) -> exp.Expr:
        text = exp.Trim(this=text)
        parsed = exp.Anonymous(
            this="parseDateTime64BestEffortOrNull",
            expressions=[text.copy(), exp.Literal.number(6), _lit("UTC")],
        )
        micros = exp.Anonymous(this="toUnixTimestamp64Micro", expressions=[parsed])
        # Half away from zero, like the other engines (toUnixTimestamp64Milli truncates).
        half = exp.Mul(this=exp.func("sign", micros.copy()), expression=exp.Literal.number(500))
        millis = exp.Anonymous(
            this="intDiv",
            expressions=[exp.Add(this=micros, expression=half), exp.Literal.number(1000)],
        )
        return _case(self.matches(text, DATE_RE), millis)


class BigQuery(Dialect):
    """BigQuery: ``SAFE_CAST`` and ``UNIX_MILLIS``."""

    def to_epoch_ms(self, text: exp.Expr) -> exp.Expr:
        text = exp.Trim(this=text)
        moment = exp.TryCast(this=text.copy(), to=exp.DataType.build("timestamp"))
        return _case(self.matches(text, DATE_RE), exp.func("UNIX_MILLIS", moment))


class Snowflake(Dialect):
    """Snowflake: ``REGEXP_INSTR`` for partial matches, ``TRY_TO_*`` conversions."""

    def matches(self, text: exp.Expr, pattern: str) -> exp.Expr:
        return exp.GT(
            this=exp.Anonymous(this="REGEXP_INSTR", expressions=[text, _lit(pattern)]),
            expression=exp.Literal.number(0),
        )

    def _json_raw(self, column: exp.Expr, path: Path) -> exp.Expr:
        parsed = exp.Anonymous(this="PARSE_JSON", expressions=[column])
        dotted = ".".join(f"[{k}]" if isinstance(k, int) else f'"{k}"' for k in path)
        got = exp.Anonymous(this="GET_PATH", expressions=[parsed, _lit(dotted.replace(".[", "["))])
        return exp.Anonymous(this="TO_JSON", expressions=[got])

    def to_number(self, text: exp.Expr) -> exp.Expr:
        return _case(self.matches(text, NUMBER_RE), exp.func("TRY_TO_DOUBLE", text.copy()))

    def to_epoch_ms(self, text: exp.Expr) -> exp.Expr:
        text = exp.Trim(this=text)
        moment = exp.func("TRY_TO_TIMESTAMP_TZ", text.copy())
        millis = exp.Anonymous(this="DATE_PART", expressions=[exp.var("epoch_millisecond"), moment])
        return _case(self.matches(text, DATE_RE), millis)


DIALECTS: dict[str, Dialect] = {
    "duckdb": Dialect("duckdb"),
    "postgres": Postgres("postgres"),
    "clickhouse": ClickHouse("clickhouse"),
    "bigquery": BigQuery("bigquery"),
    "snowflake": Snowflake("snowflake"),
}


def dialect(name: str) -> Dialect:
    """The registered dialect called ``name`` (``ValueError`` lists the known ones)."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}; known: {', '.join(DIALECTS)}") from None
