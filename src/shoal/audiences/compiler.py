"""Compiling a condition tree to SQL: sqlglot expressions, never string concatenation.

The shape of every compiled audience: one aggregate per event leaf (a CTE grouped by
profile), left-joined to the profiles of the collection, and a ``WHERE`` that is the tree
itself with every leaf made two-valued (``COALESCE(…, FALSE)``), so ``not`` means what a
person expects even where a value is missing. Nested collections (an account condition on
users, a users condition on accounts) compile to CTEs of their own. The same builder also
produces, for ``explain``, every node's truth and observed value as columns.

Costly leaves run on candidates only. When the root is an ``all`` whose conjuncts include
both cheap ones (traits, lists, counts on the narrow event columns, materialized values) and
costly ones (anything parsing event JSON, consent, sequences with property filters), the
cheap conjuncts become a CTE ``cand`` of the profiles passing them, and the costly leaves'
event scans keep only candidates' events. That is exact: a profile outside ``cand`` fails a
conjunct of the root, and a candidate's events are all aggregated (the restriction is by
profile, not by event).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field

from sqlglot import exp

from shoal.audiences.dialects import Dialect, dialect
from shoal.audiences.model import (
    ACCOUNTS,
    DAY_MS,
    NEGATIVE,
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
from shoal.audiences.schema import WAREHOUSE, Schema

_TRUE, _FALSE = exp.true(), exp.false()
NOW_SENTINEL = 987_654_321_012_345
"""Stands for "now" in a cached template (a moment in the year 33,267: no real value)."""
ONLY_TABLE: list[int] = []
"""Passed as ``only``: restrict to the ids in the temporary table ``realtime_only``."""
ONLY_TABLE_NAME = "realtime_only"


def _num(value: float | int) -> exp.Expr:
    return exp.Literal.number(value)


def _str(value: str) -> exp.Expr:
    return exp.Literal.string(value)


def _col(name: str, table: str) -> exp.Column:
    return exp.column(name, table)


def _and(parts: Seq[exp.Expr]) -> exp.Expr:
    return exp.and_(*parts) if parts else _TRUE.copy()


def _two_valued(cond: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=exp.Paren(this=cond), expressions=[_FALSE.copy()])


def _missing_from(table: str, other: str, *, entering: bool) -> exp.Select:
    """``(profile_id, entering)`` of the rows of ``table`` whose id ``other`` lacks."""
    column = _col("profile_id", "x")
    lacking = exp.In(this=column, query=exp.Subquery(this=exp.select("profile_id").from_(other)))
    flag = _TRUE.copy() if entering else _FALSE.copy()
    return (
        exp.select(column.copy(), exp.alias_(flag, "entering"))
        .from_(exp.to_table(table).as_("x"))
        .where(exp.Not(this=lacking))
    )


def _in_cand(column: exp.Expr, cand: str) -> exp.Expr:
    query = exp.select("profile_id").from_(cand)
    return exp.In(this=column, query=exp.Subquery(this=query))


def name_path(name: str) -> list[str | int]:
    """The JSON path of a dotted trait or property name."""
    return list(name.split("."))


@dataclass
class _Scope:
    """One collection's query: its profiles alias and the aggregates joined to it."""

    collection: str
    alias: str
    only: list[int] | None = None
    joins: list[str] = field(default_factory=list)
    cand: str | None = None
    """A CTE of candidate profiles that costly leaves restrict their events to."""


# How much a leaf costs to evaluate for every profile, for choosing the candidates first:
# profile columns only, the narrow event columns, or event JSON (or every event, consent).
_PROFILE, _NARROW, _COSTLY = 0, 1, 2


@dataclass
class Explained:
    """Per node (in ``walk`` order): its truth and observed value columns."""

    columns: list[tuple[exp.Expr, exp.Expr | None]] = field(default_factory=list)


class Compiler:
    """Builds the SQL of audiences for one dialect, schema, space and moment."""

    def __init__(self, dialect_name: str, schema: Schema, space: str, now_ms: int) -> None:
        self.d: Dialect = dialect(dialect_name)
        self.schema = schema
        self.space = space
        self.now = now_ms
        self.templated = now_ms == NOW_SENTINEL
        self.ctes: list[exp.CTE] = []
        self.explained: Explained | None = None

    # -- entry points ---------------------------------------------------------------------

    def members(
        self, node: Condition, collection: str, only: list[int] | None = None
    ) -> exp.Select:
        """``SELECT profile_id`` of the profiles of ``collection`` for which ``node`` holds."""
        scope = _Scope(collection, self._name("p"), only)
        cond = self._root(node, scope)
        select = self._scope_select(
            scope, [exp.alias_(_col("profile_id", scope.alias), "profile_id")], cond
        )
        return self._with_ctes(select)

    def changes(
        self, node: Condition, collection: str, key: str, only: list[int] | None = None
    ) -> exp.Select:
        """``(profile_id, entering)`` rows: who enters and who exits the audience ``key``
        (its current members are read from ``shoal_memberships``)."""
        scope = _Scope(collection, self._name("p"), only)
        cond = self._root(node, scope)
        fresh = self._scope_select(
            scope, [exp.alias_(_col("profile_id", scope.alias), "profile_id")], cond
        ).distinct()
        self.ctes.append(exp.CTE(this=fresh, alias=exp.TableAlias(this=exp.to_identifier("fresh"))))
        c = "c"
        where: list[exp.Expr] = [
            exp.EQ(this=_col("space", c), expression=_str(self.space)),
            exp.EQ(this=_col("audience", c), expression=_str(key)),
        ]
        if only is not None:
            where.append(self._only(_col("profile_id", c), only))
        current = (
            exp.select(_col("profile_id", c))
            .from_(self.schema.relation("shoal_memberships", c, collection))
            .where(_and(where))
        )
        self.ctes.append(
            exp.CTE(this=current, alias=exp.TableAlias(this=exp.to_identifier("current_members")))
        )
        entered = _missing_from("fresh", "current_members", entering=True)
        exited = _missing_from("current_members", "fresh", entering=False)
        both = exp.union(entered, exited, distinct=False)
        select = exp.select("*").from_(
            exp.Subquery(this=both, alias=exp.TableAlias(this=exp.to_identifier("changes")))
        )
        return self._with_ctes(select)

    def explain(self, node: Condition, collection: str, profile_id: int) -> exp.Select:
        """One row for ``profile_id``: every node's truth and observed value, in walk order."""
        scope = _Scope(collection, self._name("p"), [profile_id])
        self.explained = Explained()
        self.condition(node, scope)
        columns: list[exp.Expr] = []
        for i, (truth, value) in enumerate(self.explained.columns):
            columns.append(exp.alias_(truth, f"t{i}"))
            columns.append(exp.alias_(value if value is not None else exp.null(), f"v{i}"))
        select = self._scope_select(scope, columns, None)
        return self._with_ctes(select)

    # -- conditions ---------------------------------------------------------------------------

    def _root(self, node: Condition, scope: _Scope) -> exp.Expr:
        """The root condition, with the candidates CTE when it pays (see the module doc)."""
        if isinstance(node, All):
            cheap = [c for c in node.all if self._cost(c, scope) < _COSTLY]
            costly = [c for c in node.all if self._cost(c, scope) == _COSTLY]
            if cheap and costly:
                first = _Scope(scope.collection, self._name("p"), scope.only)
                cond = _and([self.condition(c, first) for c in cheap])
                cand = self._scope_select(
                    first, [exp.alias_(_col("profile_id", first.alias), "profile_id")], cond
                )
                scope.cand = self._name("cand")
                self.ctes.append(
                    exp.CTE(this=cand, alias=exp.TableAlias(this=exp.to_identifier(scope.cand)))
                )
                return _and([self.condition(c, scope) for c in costly])
        return self.condition(node, scope)

    def _cost(self, node: Condition, scope: _Scope) -> int:
        """``_PROFILE``, ``_NARROW`` or ``_COSTLY``: what evaluating ``node`` reads."""
        if isinstance(node, All | AnyOf | Not):
            parts = node.all if isinstance(node, All) else (
                node.any if isinstance(node, AnyOf) else [node.not_]
            )  # fmt: skip
            return max((self._cost(c, scope) for c in parts), default=_PROFILE)
        if isinstance(node, Event):
            if node.where is not None:
                return _COSTLY
            if node.measure in PROPERTY_MEASURES:
                assert node.property is not None
                found = self.schema.materialized_path(scope.collection, "properties", node.property)
                return _NARROW if found else _COSTLY
            return _NARROW
        if isinstance(node, Sequence):
            steps = (node.first, node.then)
            return _COSTLY if any(s.where is not None for s in steps) else _NARROW
        if isinstance(node, Consent):
            # Even materialized, consent spans most events of most profiles.
            return _COSTLY
        if isinstance(node, Account | Users):
            return _NARROW
        return _PROFILE

    def condition(self, node: Condition, scope: _Scope) -> exp.Expr:
        """A two-valued boolean for ``node`` over ``scope``'s current profile row."""
        slot = None
        if self.explained is not None:
            slot = len(self.explained.columns)
            self.explained.columns.append((_FALSE.copy(), None))
        truth, value = self._node(node, scope)
        if slot is not None and self.explained is not None:
            self.explained.columns[slot] = (truth.copy(), value)
        return truth

    def _node(self, node: Condition, scope: _Scope) -> tuple[exp.Expr, exp.Expr | None]:
        if isinstance(node, All):
            parts = [self.condition(c, scope) for c in node.all]
            return (exp.Paren(this=_and(parts)) if parts else _TRUE.copy()), None
        if isinstance(node, AnyOf):
            parts = [self.condition(c, scope) for c in node.any]
            return (exp.Paren(this=exp.or_(*parts)) if parts else _FALSE.copy()), None
        if isinstance(node, Not):
            return exp.Not(this=exp.Paren(this=self.condition(node.not_, scope))), None
        if isinstance(node, Trait):
            text = self.d.json_text(
                _col("traits", scope.alias), self.schema.trait_path(name_path(node.name))
            )
            return _two_valued(self.compare(text, node.op, node.value)), text
        if isinstance(node, Computed):
            alias = self._join_computed(node.name, scope)
            text = self.d.json_text(_col("value", alias), [])
            return _two_valued(self.compare(text, node.op, node.value)), text
        if isinstance(node, Event):
            return self._event(node, scope)
        if isinstance(node, Sequence):
            alias = self._join(scope, self._sequence(node, scope), "s")
            return exp.Not(this=_col("profile_id", alias).is_(exp.null())), None
        if isinstance(node, Member):
            return self._lookup(scope, "shoal_memberships", {"audience": node.audience}), None
        if isinstance(node, InList):
            keys = {"collection": scope.collection, "kind": "list", "name": node.list}
            return self._lookup(scope, "shoal_lists", keys), None
        if isinstance(node, Tagged):
            keys = {"collection": scope.collection, "kind": "tag", "name": node.tag}
            return self._lookup(scope, "shoal_lists", keys), None
        if isinstance(node, Consent):
            return self._consent(node, scope)
        if isinstance(node, Account):
            return self._account(node, scope)
        if isinstance(node, Users):
            return self._users(node, scope)
        if isinstance(node, Bucket):
            bucket = exp.Abs(
                this=exp.Mod(this=_col("profile_id", scope.alias), expression=_num(100))
            )
            cond = exp.and_(bucket >= _num(node.start), bucket < _num(node.end))
            return exp.Paren(this=cond), bucket
        if isinstance(node, Property):
            raise DefinitionError("property conditions belong inside an event's 'where'")
        raise DefinitionError(f"unsupported condition {type(node).__name__}")

    def compare(self, text: exp.Expr, op: str, value: object) -> exp.Expr:
        """``text`` (a JSON scalar as text) compared with ``value``; may be ``NULL``."""
        if op in NEGATIVE:
            return exp.Not(this=_two_valued(self.compare(text, NEGATIVE[op], value)))
        if op == "exists":
            return exp.Not(this=text.is_(exp.null()))
        if op == "eq":
            if isinstance(value, bool):
                return exp.EQ(this=text, expression=_str("true" if value else "false"))
            if isinstance(value, int | float):
                return exp.EQ(this=self.d.to_number(text), expression=_num(value))
            return exp.EQ(this=text, expression=_str(str(value)))
        if op == "in":
            assert isinstance(value, list)
            return exp.Paren(
                this=exp.or_(*(_two_valued(self.compare(text, "eq", v)) for v in value))
            )
        if op == "contains":
            position = exp.StrPosition(this=text, substr=_str(str(value)))
            return exp.GT(this=position, expression=_num(0))
        if op == "starts_with":
            return exp.StartsWith(this=text, expression=_str(str(value)))
        if op == "ends_with":
            return self.d.ends_with(text, str(value))
        if op == "regex":
            return self.d.matches(text, str(value))
        if op in ("gt", "gte", "lt", "lte", "between"):
            return self.compare_number(self.d.to_number(text), op, value)
        return self.compare_time(self.d.to_epoch_ms(text), op, value)

    def compare_number(self, number: exp.Expr, op: str, value: object) -> exp.Expr:
        """A numeric comparison (counts and aggregates use it directly)."""
        if op == "neq":
            # Exactly "not equal": a missing average is not equal to anything.
            return exp.Not(this=_two_valued(self.compare_number(number, "eq", value)))
        if op == "eq" and isinstance(value, int | float):
            if op == "eq":
                return exp.EQ(this=number, expression=_num(value))
            return exp.NEQ(this=number, expression=_num(value))
        if op == "between":
            assert isinstance(value, list)
            return exp.Between(this=number, low=_num(value[0]), high=_num(value[1]))
        cls: type[exp.Binary] = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}[op]
        assert isinstance(value, int | float)
        return cls(this=number, expression=_num(value))

    def now_plus(self, delta: int) -> exp.Expr:
        """The moment ``now + delta`` ms; a template keeps ``now`` as a literal of its own,
        so a cached query is reused by replacing it (``audiences.realtime``)."""
        if not self.templated:
            return _num(self.now + delta)
        if not delta:
            return _num(NOW_SENTINEL)
        return exp.Paren(this=exp.Add(this=_num(NOW_SENTINEL), expression=_num(delta)))

    def compare_time(self, ms: exp.Expr, op: str, value: object) -> exp.Expr:
        """A comparison of epoch milliseconds with a date operator."""
        if op == "exists":
            return exp.Not(this=ms.is_(exp.null()))
        if op == "not_exists":
            return ms.is_(exp.null())
        if op in ("before", "after"):
            moment = _num(parse_date(str(value)))
            return (
                exp.LT(this=ms, expression=moment)
                if op == "before"
                else exp.GT(this=ms, expression=moment)
            )
        assert isinstance(value, int)
        span = value * DAY_MS
        if op == "within_last":
            return exp.Between(this=ms, low=self.now_plus(-span), high=self.now_plus(0))
        if op == "more_than_ago":
            return exp.LT(this=ms, expression=self.now_plus(-span))
        if op == "within_next":
            return exp.Between(this=ms, low=self.now_plus(0), high=self.now_plus(span))
        raise DefinitionError(f"operator {op!r} does not apply to times")

    # -- events ----------------------------------------------------------------------------------

    def _events_from(
        self, scope: _Scope, alias: str, restrict: bool = True, path: str | None = None
    ) -> exp.Select:
        """``FROM`` the collection's events in this space (and the scope's profiles, and
        candidates); with ``path``, its materialized values instead."""
        where: list[exp.Expr] = [
            exp.EQ(this=_col("space", alias), expression=_str(self.space)),
            exp.EQ(this=_col("collection", alias), expression=_str(scope.collection)),
        ]
        if path is not None:
            where.append(exp.EQ(this=_col("path", alias), expression=_str(path)))
        if restrict and scope.only is not None:
            where.append(self._only(_col("profile_id", alias), scope.only))
        if restrict and scope.cand is not None:
            where.append(_in_cand(_col("profile_id", alias), scope.cand))
        table = "shoal_events" if path is None else "shoal_event_values"
        return (
            exp.select()
            .from_(self.schema.relation(table, alias, scope.collection))
            .where(_and(where))
        )

    def _selector(
        self, kind: str, name: str | None, where: Condition | None, alias: str
    ) -> exp.Expr:
        parts: list[exp.Expr] = []
        if kind != "any":
            parts.append(exp.EQ(this=_col("type", alias), expression=_str(kind)))
        if name is not None:
            parts.append(exp.EQ(this=_col("event", alias), expression=_str(name)))
        if where is not None:
            parts.append(self._properties(where, alias))
        return _and(parts)

    def _properties(self, node: Condition, alias: str) -> exp.Expr:
        if isinstance(node, All):
            return exp.Paren(this=_and([self._properties(c, alias) for c in node.all]))
        if isinstance(node, AnyOf):
            parts = [self._properties(c, alias) for c in node.any]
            return exp.Paren(this=exp.or_(*parts)) if parts else _FALSE.copy()
        if isinstance(node, Not):
            return exp.Not(this=exp.Paren(this=self._properties(node.not_, alias)))
        if isinstance(node, Property):
            return _two_valued(
                self.compare(self._event_json(alias, "properties", node.name), node.op, node.value)
            )
        raise DefinitionError("an event's 'where' holds property conditions only")

    def _event_json(self, alias: str, part: str, name: str) -> exp.Expr:
        column, prefix = self.schema.event_json[part]
        return self.d.json_text(_col(column, alias), [*prefix, *name_path(name)])

    def _window(self, window: Window | None, ts: exp.Column) -> list[exp.Expr]:
        if window is None:
            return []
        if window.last_days is not None:
            return [exp.GTE(this=ts, expression=self.now_plus(-window.last_days * DAY_MS))]
        out: list[exp.Expr] = []
        if window.since:
            out.append(exp.GTE(this=ts.copy(), expression=_num(parse_date(window.since))))
        if window.until:
            out.append(exp.LT(this=ts.copy(), expression=_num(parse_date(window.until))))
        return out

    def _event(self, node: Event, scope: _Scope) -> tuple[exp.Expr, exp.Expr]:
        e = "e"
        measure = node.measure
        path = None
        if measure in PROPERTY_MEASURES and node.where is None:
            assert node.property is not None
            path = self.schema.materialized_path(scope.collection, "properties", node.property)
        if node.property is not None:
            prop = (
                self._event_json(e, "properties", node.property)
                if path is None
                else self.d.json_text(_col("value", e), [])
            )
        if measure == "count":
            agg: exp.Expr = exp.Count(this=exp.Star())
        elif measure == "distinct":
            agg = exp.Count(this=exp.Distinct(expressions=[prop]))
        elif measure in ("first", "last"):
            ts = _col("timestamp", e)
            agg = exp.Min(this=ts) if measure == "first" else exp.Max(this=ts)
        else:
            agg = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[measure](
                this=self.d.to_number(prop)
            )
        query = self._events_from(scope, e, path=path).select(
            _col("profile_id", e), exp.alias_(agg, "v")
        )
        query = query.where(
            _and(
                [
                    self._selector(node.type, node.event, node.where, e),
                    *self._window(node.window, _col("timestamp", e)),
                ]
            )
        )
        query = query.group_by(_col("profile_id", e))
        alias = self._join(scope, query, "e")
        value: exp.Expr = _col("v", alias)
        if measure in ("count", "distinct", "sum"):
            value = exp.Coalesce(this=value, expressions=[_num(0)])
        if measure in ("first", "last"):
            return _two_valued(self.compare_time(value, node.op, node.value)), value
        return _two_valued(self.compare_number(value, node.op, node.value)), value

    def _step(self, step: Step, alias: str) -> exp.Expr:
        return self._selector(step.type, step.event, step.where, alias)

    def _sequence(self, node: Sequence, scope: _Scope) -> exp.Select:
        e, x = "e", "x"
        is_first = self._step(node.first, e)
        is_then = self._step(node.then, e)
        ts = _col("timestamp", e)
        next_then = exp.Window(
            this=exp.Min(this=exp.Case(ifs=[exp.If(this=is_then.copy(), true=ts.copy())])),
            partition_by=[_col("profile_id", e)],
            order=exp.Order(expressions=[exp.Ordered(this=ts.copy(), nulls_first=True)]),
            spec=exp.WindowSpec(
                kind="RANGE",
                start=_num(1),
                start_side="FOLLOWING",
                end="UNBOUNDED",
                end_side="FOLLOWING",
            ),
        )
        inner = (
            self._events_from(scope, e)
            .select(
                _col("profile_id", e),
                exp.alias_(ts.copy(), "ts"),
                exp.alias_(
                    exp.Case(ifs=[exp.If(this=is_first.copy(), true=_num(1))], default=_num(0)),
                    "is_first",
                ),
                exp.alias_(next_then, "next_then"),
            )
            .where(exp.or_(is_first, is_then))
        )
        limit = node.within_s * 1000
        gap = exp.Sub(this=_col("next_then", x), expression=_col("ts", x))
        within = exp.and_(
            exp.Not(this=_col("next_then", x).is_(exp.null())),
            exp.LTE(this=gap, expression=_num(limit)),
        )
        if node.followed:
            outcome: exp.Expr = within
        else:
            matured = exp.LTE(this=_col("ts", x), expression=self.now_plus(-limit))
            outcome = exp.and_(matured, exp.Not(this=exp.Paren(this=within)))
        window = self._window(node.window, _col("ts", x))
        return (
            exp.select(_col("profile_id", x))
            .from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(x))))
            .where(_and([exp.EQ(this=_col("is_first", x), expression=_num(1)), *window, outcome]))
            .group_by(_col("profile_id", x))
        )

    # -- other leaves ------------------------------------------------------------------------

    def _consent(self, node: Consent, scope: _Scope) -> tuple[exp.Expr, exp.Expr]:
        # Consent is legal ground: only JSON booleans count, never the text "true".
        e, x = "e", "x"
        path = self.schema.materialized_path(
            scope.collection, "context", "consent.categoryPreferences." + node.category
        )
        if path is None:
            column, prefix = self.schema.event_json["context"]
            keys = [*prefix, "consent", "categoryPreferences", *name_path(node.category)]
            pref = self.d.json_raw(_col(column, e), keys)
        else:
            pref = self.d.json_raw(_col("value", e), [])
        ranked = exp.Window(
            this=exp.RowNumber(),
            partition_by=[_col("profile_id", e)],
            order=exp.Order(expressions=[exp.Ordered(this=_col("timestamp", e), desc=True)]),
        )
        inner = (
            self._events_from(scope, e, path=path)
            .select(_col("profile_id", e), exp.alias_(pref, "v"), exp.alias_(ranked, "rn"))
            .where(exp.In(this=pref.copy(), expressions=[_str("true"), _str("false")]))
        )
        latest = (
            exp.select(_col("profile_id", x), _col("v", x))
            .from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(x))))
            .where(exp.EQ(this=_col("rn", x), expression=_num(1)))
        )
        alias = self._join(scope, latest, "c")
        from_event = _col("v", alias)
        trait = self.d.json_raw(
            _col("traits", scope.alias),
            self.schema.trait_path(["consent", *name_path(node.category)]),
        )
        decided = exp.Case(
            ifs=[
                exp.If(
                    this=exp.Not(this=from_event.is_(exp.null())),
                    true=exp.EQ(this=from_event.copy(), expression=_str("true")),
                )
            ],
            default=exp.EQ(this=trait, expression=_str("true")),
        )
        return _two_valued(decided), exp.Coalesce(
            this=from_event.copy(), expressions=[trait.copy()]
        )

    def _account(self, node: Account, scope: _Scope) -> tuple[exp.Expr, exp.Expr | None]:
        accounts = self._nested(node.where, ACCOUNTS)
        query = self._linked(USERS, accounts, "account_id").distinct()
        query = query.select(exp.alias_(_col("user_id", "l"), "profile_id"), append=False)
        alias = self._join(scope, query, "a")
        return exp.Not(this=_col("profile_id", alias).is_(exp.null())), None

    def _users(self, node: Users, scope: _Scope) -> tuple[exp.Expr, exp.Expr]:
        users = self._nested(node.where, USERS)
        query = self._linked(ACCOUNTS, users, "user_id").select(
            exp.alias_(_col("account_id", "l"), "profile_id"),
            exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col("user_id", "l")])), "v"),
            append=False,
        )
        alias = self._join(scope, query.group_by(_col("account_id", "l")), "u")
        count = exp.Coalesce(this=_col("v", alias), expressions=[_num(0)])
        return _two_valued(self.compare_number(count, node.op, node.value)), count

    def _linked(self, collection: str, members: str, other: str) -> exp.Select:
        """Links whose ``other`` side is a member of the CTE ``members``, as a join: ClickHouse
        refuses an ``IN (SELECT …)`` over a CTE that itself joins."""
        return (
            exp.select(_col(other, "l"))
            .from_(self.schema.relation("shoal_links", "l", collection))
            .join(
                exp.to_table(members).as_("n"),
                on=exp.EQ(this=_col(other, "l"), expression=_col("profile_id", "n")),
            )
            .where(exp.EQ(this=_col("space", "l"), expression=_str(self.space)))
        )

    def _nested(self, node: Condition, collection: str) -> str:
        """Compile a condition over another collection into a CTE of its members."""
        saved, self.explained = self.explained, None
        try:
            scope = _Scope(collection, self._name("p"))
            cond = self.condition(node, scope)
            select = self._scope_select(
                scope, [exp.alias_(_col("profile_id", scope.alias), "profile_id")], cond
            )
        finally:
            self.explained = saved
        name = self._name("m")
        self.ctes.append(exp.CTE(this=select, alias=exp.TableAlias(this=exp.to_identifier(name))))
        return name

    def _lookup(self, scope: _Scope, table: str, keys: dict[str, str]) -> exp.Expr:
        t = "t"
        where: list[exp.Expr] = [exp.EQ(this=_col("space", t), expression=_str(self.space))]
        where += [exp.EQ(this=_col(k, t), expression=_str(v)) for k, v in keys.items()]
        if scope.only is not None:
            where.append(self._only(_col("profile_id", t), scope.only))
        query = (
            exp.select(_col("profile_id", t))
            .distinct()
            .from_(self.schema.relation(table, t, scope.collection))
            .where(_and(where))
        )
        alias = self._join(scope, query, "k")
        return exp.Not(this=_col("profile_id", alias).is_(exp.null()))

    def _join_computed(self, key: str, scope: _Scope) -> str:
        t = "t"
        where: list[exp.Expr] = [
            exp.EQ(this=_col("space", t), expression=_str(self.space)),
            exp.EQ(this=_col("key", t), expression=_str(key)),
        ]
        if scope.only is not None:
            where.append(self._only(_col("profile_id", t), scope.only))
        query = (
            exp.select(_col("profile_id", t), _col("value", t))
            .from_(self.schema.relation("shoal_computed", t, scope.collection))
            .where(_and(where))
        )
        return self._join(scope, query, "t")

    # -- assembly ----------------------------------------------------------------------------

    def _name(self, prefix: str) -> str:
        self._counter = getattr(self, "_counter", 0) + 1
        return f"{prefix}{self._counter}"

    def _join(self, scope: _Scope, query: exp.Select, prefix: str) -> str:
        name = self._name(prefix)
        self.ctes.append(exp.CTE(this=query, alias=exp.TableAlias(this=exp.to_identifier(name))))
        scope.joins.append(name)
        return name

    def _only(self, column: exp.Expr, ids: list[int]) -> exp.Expr:
        if ids is ONLY_TABLE:
            query = exp.select("profile_id").from_(ONLY_TABLE_NAME)
            return exp.In(this=column, query=exp.Subquery(this=query))
        return exp.In(this=column, expressions=[_num(i) for i in ids]) if ids else _FALSE.copy()

    def _scope_select(
        self, scope: _Scope, columns: list[exp.Expr], cond: exp.Expr | None
    ) -> exp.Select:
        p = scope.alias
        select = exp.select(*columns).from_(
            self.schema.relation("shoal_profiles", p, scope.collection)
        )
        for alias in scope.joins:
            select = select.join(
                exp.to_table(alias),
                on=exp.EQ(this=_col("profile_id", alias), expression=_col("profile_id", p)),
                join_type="LEFT",
            )
        where: list[exp.Expr] = [
            exp.EQ(this=_col("space", p), expression=_str(self.space)),
            exp.EQ(this=_col("collection", p), expression=_str(scope.collection)),
        ]
        if scope.only is not None:
            where.append(self._only(_col("profile_id", p), scope.only))
        if scope.cand is not None:
            where.append(_in_cand(_col("profile_id", p), scope.cand))
        if cond is not None:
            where.append(cond)
        return select.where(_and(where))

    def _with_ctes(self, select: exp.Select) -> exp.Select:
        if self.ctes:
            select.set("with_", exp.With(expressions=list(self.ctes)))
        return select


def compile_members(
    node: Condition,
    collection: str,
    space: str,
    now_ms: int,
    dialect: str,
    schema: Schema = WAREHOUSE,
    only: list[int] | None = None,
    limit: int | None = None,
) -> str:
    """SQL selecting the ids of the members of ``collection`` in ``space`` at ``now_ms``
    (only among ``only`` when given: real-time refreshes re-check touched profiles; the
    first ``limit`` by id when given: samples)."""
    select = Compiler(dialect, schema, space, now_ms).members(node, collection, only)
    if limit is not None:
        select = select.order_by(exp.column("profile_id")).limit(limit)
    return select.sql(dialect)


def compile_changes(
    node: Condition,
    collection: str,
    space: str,
    now_ms: int,
    dialect: str,
    key: str,
    schema: Schema = WAREHOUSE,
    only: list[int] | None = None,
) -> str:
    """SQL of ``(profile_id, entering)``: the membership changes of the audience ``key``
    that a refresh (of every profile, or of ``only``) finds."""
    return (
        Compiler(dialect, schema, space, now_ms).changes(node, collection, key, only).sql(dialect)
    )


def compile_count(
    node: Condition,
    collection: str,
    space: str,
    now_ms: int,
    dialect: str,
    schema: Schema = WAREHOUSE,
) -> str:
    """SQL of the number of members (a live count, without touching cached results)."""
    members = Compiler(dialect, schema, space, now_ms).members(node, collection)
    inner = exp.Subquery(this=members, alias=exp.TableAlias(this=exp.to_identifier("members")))
    return exp.select(exp.Count(this=exp.Star())).from_(inner).sql(dialect)


def compile_explain(
    node: Condition,
    collection: str,
    space: str,
    now_ms: int,
    dialect: str,
    profile_id: int,
    schema: Schema = WAREHOUSE,
) -> tuple[str, list[Condition]]:
    """SQL of one row with ``t{i}``/``v{i}`` (truth, observed value) per node of
    ``walk(node)`` order, and those nodes. Nodes inside an event's ``where`` or a nested
    collection are part of their parent's result and get no columns of their own."""
    compiler = Compiler(dialect, schema, space, now_ms)
    select = compiler.explain(node, collection, profile_id)
    return select.sql(dialect), _explained_nodes(node)


def _explained_nodes(node: Condition) -> list[Condition]:
    out: list[Condition] = [node]
    if isinstance(node, All):
        for c in node.all:
            out += _explained_nodes(c)
    elif isinstance(node, AnyOf):
        for c in node.any:
            out += _explained_nodes(c)
    elif isinstance(node, Not):
        out += _explained_nodes(node.not_)
    return out


__all__ = ["Compiler", "compile_changes", "compile_count", "compile_explain", "compile_members"]
