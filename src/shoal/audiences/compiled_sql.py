"""Reading the compiler's SQL: the shapes ``combined`` recognizes in compiled queries.

Everything here works on sqlglot trees of ``compiler`` output and answers "is this the
usual shape?"; a ``None`` or ``False`` means "leave it as it was compiled".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot
from sqlglot import exp

from shoal.audiences.compiler import ONLY_TABLE_NAME

DIALECT = "duckdb"


def parse_select(sql: str) -> exp.Select:
    """The sqlglot tree of a compiled ``SELECT``."""
    tree = sqlglot.parse_one(sql, dialect=DIALECT)
    if not isinstance(tree, exp.Select):
        raise ValueError(f"not a SELECT: {sql[:80]}")
    return tree


def conjuncts(node: exp.Expr) -> list[exp.Expr]:
    """The terms of a chain of ``AND``s (through parentheses around ``AND``s; any other term
    keeps its own)."""
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return conjuncts(node.this)
    if isinstance(node, exp.And):
        return conjuncts(node.left) + conjuncts(node.right)
    return [node]


def conjunction(terms: Sequence[exp.Expr]) -> exp.Expr:
    """The conjunction of ``terms`` (sqlglot prints precedence from ``Paren`` nodes only, so
    an ``OR`` among them is put in parentheses)."""
    wrapped = [exp.Paren(this=t) if isinstance(t, exp.Connector) else t for t in terms]
    if not wrapped:
        return exp.true()
    out = wrapped[0]
    for term in wrapped[1:]:
        out = exp.And(this=out, expression=term)
    return out


def only_profiles() -> exp.Subquery:
    """``(SELECT profile_id FROM realtime_only)``: the pass's profiles."""
    return exp.Subquery(this=exp.select("profile_id").from_(ONLY_TABLE_NAME))


def is_only(node: exp.Expr, column: str | None = None) -> bool:
    """``x IN (SELECT profile_id FROM realtime_only)`` (with ``x`` the column ``column``)."""
    if not isinstance(node, exp.In) or (column is not None and node.this.sql() != column):
        return False
    query = node.args.get("query")
    inner = query.this if isinstance(query, exp.Subquery) else query
    if not isinstance(inner, exp.Select) or not plain(inner, {"expressions", "from_"}):
        return False
    source = inner.args.get("from_")
    table = source.this if source is not None else None
    return (
        isinstance(table, exp.Table)
        and table.name == ONLY_TABLE_NAME
        and not table.alias
        and [e.sql() for e in inner.expressions] == ["profile_id"]
    )


def plain(select: exp.Select, allowed: set[str]) -> bool:
    """Whether ``select`` uses no clause outside ``allowed``."""
    return not any(value for key, value in select.args.items() if key not in allowed)


def top_columns(node: exp.Expr) -> list[exp.Column]:
    """The columns of ``node`` outside its subqueries (those resolve in their own scope)."""
    return [
        c
        for c in node.find_all(exp.Column)
        if not any(isinstance(a, exp.Select) for a in _ancestors(c, node))
    ]


def _ancestors(node: exp.Expr, root: exp.Expr) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    parent = node.parent
    while parent is not None and parent is not root:
        out.append(parent)
        parent = parent.parent
    return out


def aggregate_shape(body: exp.Expr, ctes: set[str]) -> tuple[str, exp.Expr, list[exp.Expr]] | None:
    """``(table, aggregate, conjuncts)`` when a common table expression is
    ``SELECT x.profile_id, AGG AS v FROM table AS x WHERE … GROUP BY x.profile_id`` limited
    to the pass's profiles (the conjuncts without that limit, ``x`` renamed ``a``), else
    ``None``."""
    if not isinstance(body, exp.Select) or not plain(
        body, {"expressions", "from_", "where", "group"}
    ):
        return None
    source = body.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name in ctes or table.args.get("db"):
        return None
    alias = table.alias
    group = body.args.get("group")
    pk = f"{alias}.profile_id"
    if not alias or group is None or [g.sql() for g in group.expressions] != [pk]:
        return None
    if len(body.expressions) != 2 or body.expressions[0].sql() != pk:
        return None
    value = body.expressions[1]
    if not isinstance(value, exp.Alias) or value.alias != "v":
        return None
    agg = value.this
    if not isinstance(agg, exp.AggFunc) or agg.find(exp.Window, exp.Subquery, exp.Select):
        return None
    where = body.args.get("where")
    every = conjuncts(where.this) if where is not None else []
    if not any(is_only(t, pk) for t in every):
        # Not limited to the pass's profiles (an account's events, read for its users):
        # the shared aggregate is, so this one keeps its own form.
        return None
    terms = [t.copy() for t in every if not is_only(t, pk)]
    if any(t.find(exp.Subquery, exp.Select) for t in terms):
        return None
    agg = agg.copy()
    for tree in (agg, *terms):
        for column in list(tree.find_all(exp.Column)):
            if column.table != alias:
                return None
            column.set("table", exp.to_identifier("a"))
    return table.name, agg, terms
