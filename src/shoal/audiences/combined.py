"""One statement for every real-time audience of a pass.

A real-time pass re-checks the audiences of a space for the profiles a round touched. Run
one by one, or even as a ``UNION ALL`` of their compiled queries, a hundred audiences cost
DuckDB a third of a second of *planning* however few profiles there are (a hundred join
trees to bind and optimize; executing them takes a tenth of that). ``combine`` rewrites the
audiences' compiled member queries (``compiler.compile_members`` with ``only=ONLY_TABLE``)
into one small statement of ``(query, profile_id)`` member rows:

* each event aggregate that is a plain ``SELECT a.profile_id, AGG AS v FROM table AS a
  WHERE … GROUP BY a.profile_id`` becomes a ``FILTER``ed column of one shared aggregate per
  table (identical ones computed once), so the events are scanned once per pass;
* audiences whose member query is the compiler's usual ``SELECT p.profile_id FROM profiles
  AS p LEFT JOIN … WHERE space, collection, the pass's profiles AND condition`` become one
  column each of a single select over the profiles, joined once to the shared aggregates;
* anything else keeps its compiled form, renamed apart from the other audiences, as one
  more branch of a ``UNION ALL``: only slower, never different.

``changes`` compares those members with the current ones in one join. Only the compiler's
output is read, never its internals, so it keeps working as the compiler changes (a shape
it does not know just takes the slower branch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from shoal.audiences.compiled_sql import (
    DIALECT,
    aggregate_shape,
    conjunction,
    conjuncts,
    is_only,
    only_profiles,
    parse_select,
    plain,
    top_columns,
)
from shoal.audiences.schema import Schema


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name)


def _cte(name: str, body: exp.Expr, materialized: bool = False) -> exp.CTE:
    return exp.CTE(
        this=body, alias=exp.TableAlias(this=_ident(name)), materialized=materialized or None
    )


@dataclass
class _Shared:
    """The shared aggregate over one table: ``n{k}`` counts the rows of condition ``k``,
    ``v{k}`` is its aggregate (``n{k}`` itself for ``COUNT(*)``)."""

    name: str
    table: str
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)
    parts: list[tuple[exp.Expr | None, list[exp.Expr]]] = field(default_factory=list)
    """Per condition: the aggregate (``None`` for ``COUNT(*)``) and the conjuncts."""

    def add(self, agg: exp.Expr, terms: list[exp.Expr]) -> tuple[str, str]:
        """The ``(count, value)`` columns of ``agg`` over the rows where all ``terms`` hold."""
        key = f"{agg.sql(DIALECT)} WHERE {conjunction(terms).sql(DIALECT)}"
        found = self.seen.get(key)
        if found is None:
            k = len(self.parts)
            plain = agg.sql(DIALECT) == "COUNT(*)"
            self.parts.append((None if plain else agg, terms))
            found = self.seen[key] = (f"n{k}", f"n{k}" if plain else f"v{k}")
        return found

    def cte(self) -> exp.CTE:
        # What every condition requires (the space, the collection) filters the rows once.
        common = set.intersection(*({t.sql(DIALECT) for t in terms} for _, terms in self.parts))
        hoisted = [t for t in self.parts[0][1] if t.sql(DIALECT) in common]
        columns: list[exp.Expr] = []
        for k, (agg, terms) in enumerate(self.parts):
            where = conjunction([t.copy() for t in terms if t.sql(DIALECT) not in common])
            count = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=where))
            columns.append(exp.alias_(count, f"n{k}"))
            if agg is not None:
                filtered = exp.Filter(this=agg.copy(), expression=exp.Where(this=where.copy()))
                columns.append(exp.alias_(filtered, f"v{k}"))
        pk = exp.column("profile_id", "a")
        only = exp.In(this=pk.copy(), query=only_profiles())
        body = (
            exp.select(pk.copy(), *columns)
            .from_(exp.to_table(self.table).as_("a"))
            .where(conjunction([*(t.copy() for t in hoisted), only]))
            .group_by(pk.copy())
        )
        return _cte(self.name, body, materialized=True)


@dataclass(frozen=True)
class _Merged:
    """A common table expression replaced by columns of a shared aggregate."""

    shared: str
    count: str
    value: str


@dataclass
class _Wide:
    """Audiences evaluated as columns of one select over the profiles of a collection."""

    table: str
    where: list[exp.Expr]
    joins: list[exp.Join] = field(default_factory=list)
    joined: set[str] = field(default_factory=set)
    columns: list[exp.Expr] = field(default_factory=list)

    def join(self, name: str, alias: str) -> None:
        if alias in self.joined:
            return
        self.joined.add(alias)
        on = exp.column("profile_id", alias).eq(exp.column("profile_id", "p"))
        self.joins.append(exp.Join(this=exp.to_table(name).as_(alias), on=on, side="LEFT"))

    def select(self) -> exp.Select:
        pairs = exp.Array(expressions=self.columns)
        inner = exp.select(
            exp.column("profile_id", "p"), exp.alias_(exp.Unnest(expressions=[pairs]), "query")
        ).from_(exp.to_table(self.table).as_("p"))
        for join in self.joins:
            inner = inner.join(join)
        inner = inner.where(conjunction([w.copy() for w in self.where]))
        return (
            exp.select("query", "profile_id")
            .from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=_ident("w"))))
            .where(exp.column("query").is_(exp.null()).not_())
        )


class _Combiner:
    def __init__(self) -> None:
        self.ctes: list[exp.CTE] = []
        self.shared: dict[str, _Shared] = {}
        self.merged: dict[str, _Merged] = {}
        self.wide: dict[str, _Wide] = {}
        self.branches: list[exp.Select] = []

    def add(self, i: int, sql: str) -> None:
        tree = parse_select(sql)
        with_ = tree.args.get("with_")
        own = list(with_.expressions) if with_ is not None else []
        renamed = {cte.alias: f"q{i}_{cte.alias}" for cte in own}
        tree.set("with_", None)
        # Apart from the other audiences' tables, keeping the old name as the alias so that
        # no column needs rewriting.
        for part in [tree, *(cte.this for cte in own)]:
            for table in part.find_all(exp.Table):
                if table.name in renamed and not table.args.get("db"):
                    old = table.name
                    table.set("this", _ident(renamed[old]))
                    if not table.alias:
                        table.set("alias", exp.TableAlias(this=_ident(old)))
        for cte in own:
            name, body = renamed[cte.alias], cte.this
            found = aggregate_shape(body, set(renamed.values()))
            if found is not None:
                table, agg, terms = found
                shared = self.shared.get(table)
                if shared is None:
                    shared = self.shared[table] = _Shared(f"rt_agg{len(self.shared)}", table)
                count, value = shared.add(agg, terms)
                self.merged[name] = _Merged(shared.name, count, value)
                body = (
                    exp.select(exp.column("profile_id"), exp.alias_(exp.column(value), "v"))
                    .from_(shared.name)
                    .where(exp.column(count) > 0)
                )
            self.ctes.append(_cte(name, body))
        if not self._widen(i, tree):
            self.branches.append(
                exp.select(exp.alias_(exp.Literal.number(i), "query"), "profile_id").from_(
                    exp.Subquery(this=tree, alias=exp.TableAlias(this=_ident(f"m{i}")))
                )
            )

    def _widen(self, i: int, tree: exp.Select) -> bool:
        """Make the member query a column of a wide select, if it has the usual shape."""
        if not plain(tree, {"expressions", "from_", "joins", "where"}):
            return False
        source = tree.args.get("from_")
        table = source.this if source is not None else None
        if not isinstance(table, exp.Table) or not table.alias or table.args.get("db"):
            return False
        p = table.alias
        pk = f"{p}.profile_id"
        if len(tree.expressions) != 1 or tree.expressions[0].sql() not in (
            pk,
            f"{pk} AS profile_id",
        ):
            return False
        joins: dict[str, str] = {}
        for join in tree.args.get("joins") or []:
            target = join.this
            on = join.args.get("on")
            if join.side != "LEFT" or join.kind or not isinstance(target, exp.Table):
                return False
            alias = target.alias or target.name
            if on is None or on.sql() not in (
                f"{alias}.profile_id = {pk}",
                f"{pk} = {alias}.profile_id",
            ):
                return False
            joins[alias] = target.name
        where = tree.args.get("where")
        standard: dict[str, exp.Expr] = {}
        rest: list[exp.Expr] = []
        for term in conjuncts(where.this) if where is not None else []:
            if is_only(term, pk):
                standard.setdefault("only", term)
            elif (
                isinstance(term, exp.EQ)
                and isinstance(term.this, exp.Column)
                and term.this.table == p
                and term.this.name in ("space", "collection")
                and isinstance(term.expression, exp.Literal)
                and term.this.name not in standard
            ):
                standard[term.this.name] = term
            else:
                rest.append(term)
        if set(standard) != {"only", "space", "collection"}:
            return False
        # In parentheses, so that even a bare column has a parent to be replaced in.
        cond: exp.Expr = exp.Paren(this=conjunction([t.copy() for t in rest]))
        top = top_columns(cond)
        inside = [c for c in cond.find_all(exp.Column) if all(c is not t for t in top)]
        if any(c.table in joins or c.table == p for c in inside):
            return False  # a correlated subquery: left as compiled
        replacements: list[tuple[exp.Column, exp.Expr]] = []
        uses: list[tuple[str, str]] = []
        for column in top:
            qualifier = column.table
            if qualifier == p:
                replacements.append((column, exp.column(column.name, "p")))
            elif qualifier in joins:
                merged = self.merged.get(joins[qualifier])
                if merged is None:
                    uses.append((joins[qualifier], joins[qualifier]))
                    replacements.append((column, exp.column(column.name, joins[qualifier])))
                    continue
                if column.name not in ("profile_id", "v"):
                    return False
                value = merged.value if column.name == "v" else "profile_id"
                uses.append((merged.shared, merged.shared))
                replacements.append(
                    (
                        column,
                        exp.Case(
                            ifs=[
                                exp.If(
                                    this=exp.column(merged.count, merged.shared) > 0,
                                    true=exp.column(value, merged.shared),
                                )
                            ]
                        ),
                    )
                )
            else:
                return False
        for column, replacement in replacements:
            column.replace(replacement)
        key = (
            f"{table.name}\x1f{standard['space'].expression.sql()}"
            f"\x1f{standard['collection'].expression.sql()}"
        )
        wide = self.wide.get(key)
        if wide is None:
            where_p: list[exp.Expr] = [
                exp.column("space", "p").eq(standard["space"].expression.copy()),
                exp.column("collection", "p").eq(standard["collection"].expression.copy()),
                exp.In(this=exp.column("profile_id", "p"), query=only_profiles()),
            ]
            wide = self.wide[key] = _Wide(table.name, where_p)
        for name, alias in uses:
            wide.join(name, alias)
        wide.columns.append(exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(i))]))
        return True

    def members(self) -> tuple[list[exp.CTE], exp.Select]:
        """The common table expressions and the ``(query, profile_id)`` select."""
        branches = [wide.select() for wide in self.wide.values()] + self.branches
        fresh: exp.Expr = branches[0]
        for branch in branches[1:]:
            fresh = exp.Union(this=fresh, expression=branch, distinct=False)
        select = exp.select("query", "profile_id").from_(exp.Subquery(this=fresh)).distinct()
        return [s.cte() for s in self.shared.values()] + self.ctes, select


def _combined(queries: Sequence[str]) -> tuple[list[exp.CTE], exp.Select]:
    if not queries:
        raise ValueError("no queries to combine")
    combiner = _Combiner()
    for i, sql in enumerate(queries):
        combiner.add(i, sql)
    return combiner.members()


def combine(queries: Sequence[str]) -> str:
    """One statement of ``(query, profile_id)``: the members of every audience among the
    pass's profiles, ``query`` being the index in ``queries`` of the audience's member query
    (``compile_members`` with ``only=ONLY_TABLE``)."""
    ctes, select = _combined(queries)
    select.set("with_", exp.With(expressions=ctes))
    return select.sql(DIALECT)


def changes(queries: Sequence[str], keys: Sequence[str], space: str, schema: Schema) -> str:
    """One statement of ``(query, profile_id, entering)``: who enters and who leaves each
    audience among the pass's profiles; ``keys[i]`` is the key of ``queries[i]``'s audience,
    whose current members ``schema``'s ``shoal_memberships`` holds."""
    ctes, members = _combined(queries)
    keyed = exp.Values(
        expressions=[
            exp.Tuple(expressions=[exp.Literal.number(i), exp.Literal.string(k)])
            for i, k in enumerate(keys)
        ],
        alias=exp.TableAlias(this=_ident("k"), columns=[_ident("query"), _ident("audience")]),
    )
    # Distinct: a membership table need not promise one row per member.
    current = (
        exp.select(exp.column("query", "k"), exp.column("profile_id", "m"))
        .distinct()
        .from_(schema.relation("shoal_memberships", "m", "users"))
        .join(keyed, on=exp.column("audience", "k").eq(exp.column("audience", "m")))
        .where(
            conjunction(
                [
                    exp.column("space", "m").eq(exp.Literal.string(space)),
                    exp.In(this=exp.column("profile_id", "m"), query=only_profiles()),
                ]
            )
        )
    )
    col = exp.column
    diff = (
        exp.select(
            exp.alias_(exp.func("coalesce", col("query", "f"), col("query", "c")), "query"),
            exp.alias_(
                exp.func("coalesce", col("profile_id", "f"), col("profile_id", "c")),
                "profile_id",
            ),
            exp.alias_(col("profile_id", "f").is_(exp.null()).not_(), "entering"),
        )
        .from_(exp.to_table("rt_fresh").as_("f"))
        .join(
            exp.to_table("rt_current").as_("c"),
            on=conjunction(
                [
                    col("query", "f").eq(col("query", "c")),
                    col("profile_id", "f").eq(col("profile_id", "c")),
                ]
            ),
            join_type="FULL OUTER",
        )
        .where(
            exp.or_(col("profile_id", "f").is_(exp.null()), col("profile_id", "c").is_(exp.null()))
        )
    )
    everything = [*ctes, _cte("rt_fresh", members), _cte("rt_current", current)]
    diff.set("with_", exp.With(expressions=everything))
    return diff.sql(DIALECT)
