"""The compiled SQL agrees with the reference evaluator on random definitions and data.

For every backend the audience SQL runs on (DuckDB, PostgreSQL, ClickHouse through chDB),
hypothesis draws a small adversarial dataset (``strategies.datasets``) and a few definitions
(``strategies.conditions``), loads the data into a real database, runs each definition's
``compile_members`` SQL and compares the rows with ``reference.evaluate`` over the same
data.
The ``@example`` cases are regressions found this way, kept so that they always run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shoal.audiences import model as m
from shoal.audiences.model import ACCOUNTS, USERS
from shoal.audiences.schema import WAREHOUSE
from tests.audiences.dataset import (
    NOW_MS,
    ChdbBackend,
    ComputedRow,
    Dataset,
    DuckDBBackend,
    EventRow,
    Link,
    PostgresBackend,
    Profile,
)
from tests.audiences.reference import evaluate
from tests.audiences.strategies import batches, conditions

Backend = DuckDBBackend | PostgresBackend | ChdbBackend
Case = tuple[str, Any, Dataset]
Batch = tuple[str, list[Any], Dataset]

# Enough examples to cover every node kind and operator many times over, few enough that
# each backend's test stays well under a minute (~0.1 s an example here).
AGREEMENT = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def duckdb_backend() -> Iterator[DuckDBBackend]:
    made = DuckDBBackend()
    yield made
    made.close()


@pytest.fixture(scope="module")
def postgres_backend() -> Iterator[PostgresBackend]:
    import psycopg

    try:
        made = PostgresBackend()
    except psycopg.OperationalError as exc:  # no server: say so rather than fail obscurely
        pytest.skip(f"PostgreSQL is not reachable at the test DSN: {exc}")
    yield made
    made.close()


@pytest.fixture(scope="module")
def chdb_backend() -> Iterator[ChdbBackend]:
    made = ChdbBackend()
    yield made
    made.close()


def check(backend: Backend, batch: Batch, materialized: bool = False) -> None:
    """Load the data, run each compiled definition and compare with the evaluator. With
    ``materialized``, the values the definitions aggregate or check consent on are also in
    ``shoal_event_values`` and the compiled SQL reads them there instead of the JSON."""
    from shoal.audiences.compiler import compile_members

    collection, nodes, data = batch
    schema = WAREHOUSE
    if materialized:
        paths = frozenset().union(*(m.materializable_paths(node) for node in nodes))
        data = dataclasses.replace(data, materialized=paths)
        schema = dataclasses.replace(WAREHOUSE, materialized=paths)
    backend.load(data)
    for node in nodes:
        m.validate(node, collection)
        sql = compile_members(node, collection, data.space, NOW_MS, backend.dialect, schema)
        rows = backend.rows(sql)
        expected = evaluate(node, collection, data, NOW_MS)
        assert len(rows) == len(set(rows)), f"duplicate ids in {sorted(rows)}"
        got = set(rows)
        assert got == expected, _explain((collection, node, data), sql, expected, got)


def _explain(case: Case, sql: str, expected: set[int], got: set[int]) -> str:
    """What to paste into a report: the tree, the profiles that differ, the SQL."""
    collection, node, data = case
    differing = expected ^ got
    lines = [
        f"definition ({collection}): {m.to_json(node)}",
        f"expected {sorted(expected)}, got {sorted(got)}",
        f"missing {sorted(expected - got)}, extra {sorted(got - expected)}",
    ]
    for p in data.profiles:
        if p.profile_id in differing:
            lines.append(f"  profile {p}")
    lines += [f"  event {e}" for e in data.events if e.profile_id in differing]
    lines += [f"  computed {c}" for c in data.computed if c.profile_id in differing]
    lines += [f"  link {x}" for x in data.links if {x.user_id, x.account_id} & differing]
    lines.append(f"sql: {sql}")
    return "\n".join(lines)


# --- regressions (each ran into a disagreement once, or pins an edge on purpose) ---------


def _track(pid: int, name: str, at: int, props: dict[str, Any] | None = None) -> EventRow:
    return EventRow("users", pid, "track", name, at, props, None)


_USERS = [Profile("users", 1, {"plan": "pro"}), Profile("users", -101, None)]
_DAY = m.DAY_MS
_SEQUENCE = m.Sequence(
    first=m.Step(event="Signed Up"), then=m.Step(event="Order Completed"), within_s=60
)
_TWO_COMPUTED = m.All(
    all=[
        m.Computed(name="order_count", op="eq", value=0),
        m.Computed(name="ltv", op="eq", value=0),
    ]
)
_AVG = m.Event(event="O", measure="avg", property="total", op="neq", value=-3)
REGRESSIONS: dict[str, Case] = {
    # Numeric string vs number; a boolean is never numeric.
    "numeric strings": (
        "users",
        m.Trait(name="age", op="gte", value=5),
        Dataset(
            profiles=[
                Profile("users", 1, {"age": "05"}),
                Profile("users", 2, {"age": True}),
                Profile("users", 3, {"age": "5x"}),
                Profile("users", 4, {"age": 19.99}),
            ]
        ),
    ),
    # Negative operators include missing values and NULL traits columns.
    "neq missing": ("users", m.Trait(name="plan", op="neq", value="pro"), Dataset(profiles=_USERS)),
    # A window boundary: exactly N days ago counts, a millisecond earlier does not.
    "window boundary": (
        "users",
        m.Event(event="Order Completed", window=m.Window(last_days=7)),
        Dataset(
            profiles=_USERS,
            events=[
                _track(1, "Order Completed", NOW_MS - 7 * _DAY),
                _track(-101, "Order Completed", NOW_MS - 7 * _DAY - 1),
            ],
        ),
    ),
    # A sequence exactly at its limit is followed; at the same millisecond it is not.
    "sequence limit": (
        "users",
        _SEQUENCE,
        Dataset(
            profiles=_USERS,
            events=[
                _track(1, "Signed Up", NOW_MS - 120_000),
                _track(1, "Order Completed", NOW_MS - 60_000),
                _track(-101, "Signed Up", NOW_MS - 60_000),
                _track(-101, "Order Completed", NOW_MS - 60_000),
            ],
        ),
    ),
    # Buckets of negative ids use the dividend's sign (abs(-101 % 100) = 1).
    "negative bucket": ("users", m.Bucket(1, 2), Dataset(profiles=_USERS)),
    # A user's account must exist and satisfy the condition; dangling links do not count.
    "dangling link": (
        "users",
        m.Account(where=m.Trait(name="plan", op="not_exists")),
        Dataset(
            profiles=[*_USERS, Profile("accounts", 50, {"plan": "x"})],
            links=[Link(1, 50), Link(-101, 424242)],
        ),
    ),
    # Consent is decided by JSON booleans only: "true" in an event or a trait is not one.
    "consent text": (
        "users",
        m.Consent("ads"),
        Dataset(
            profiles=[
                Profile("users", 1, None),
                Profile("users", 2, {"consent": {"ads": "true"}}),
                Profile("users", 3, {"consent": {"ads": True}}),
            ],
            events=[
                EventRow(
                    "users",
                    1,
                    "track",
                    "X",
                    NOW_MS,
                    None,
                    {"consent": {"categoryPreferences": {"ads": "true"}}},
                ),
            ],
        ),
    ),
    # ClickHouse refused an account condition joining two computed traits ("Correlated
    # subqueries are not supported as IN function arguments").
    "account with two joins": (
        "users",
        m.Account(where=_TWO_COMPUTED),
        Dataset(
            profiles=[Profile("users", 1, None), Profile("accounts", 2, None)],
            links=[Link(1, 2)],
            computed=[ComputedRow(2, "order_count", 0), ComputedRow(2, "ltv", "0")],
        ),
    ),
    # The average of no (numeric) values is missing, so "!=" holds for it.
    "avg of nothing neq": (
        "users",
        _AVG,
        Dataset(
            profiles=[
                Profile("users", 1, None),
                Profile("users", 2, None),
                Profile("users", 3, None),
            ],
            events=[_track(1, "O", NOW_MS, {"total": 5}), _track(2, "O", NOW_MS, {"total": "x"})],
        ),
    ),
    # Dates are read as model.parse_date reads them: hour 24, second 60 and a 24-hour offset
    # are no dates (PostgreSQL failed the whole query on "+24:00"), surrounding spaces are
    # stripped and fractions below a millisecond truncated.
    "date edges": (
        "users",
        m.Trait(name="d", op="after", value="2025-06-08"),
        Dataset(
            profiles=[
                Profile("users", i, {"d": d})
                for i, d in enumerate(
                    [
                        "2025-06-08T24:00:00Z",
                        "2025-06-08T00:00:60Z",
                        "2025-06-08T00:00:00+24:00",
                        " 2025-06-09",
                        "2025-06-08T00:00:00.0005Z",
                        "2025-06-08T00:00:00.001Z",
                    ],
                    start=1,
                )
            ]
        ),
    ),
}


def regressions(test: Any) -> Any:
    """Apply every regression as an ``@example`` of a hypothesis test."""
    for collection, node, data in REGRESSIONS.values():
        test = example(batch=(collection, [node], data))(test)
    return test


@regressions
@AGREEMENT
@given(batch=batches())
def test_duckdb_agrees(duckdb_backend: DuckDBBackend, batch: Batch) -> None:
    check(duckdb_backend, batch)


@regressions
@AGREEMENT
@given(batch=batches())
def test_postgres_agrees(postgres_backend: PostgresBackend, batch: Batch) -> None:
    check(postgres_backend, batch)


@regressions
@AGREEMENT
@given(batch=batches())
def test_clickhouse_agrees(chdb_backend: ChdbBackend, batch: Batch) -> None:
    check(chdb_backend, batch)


# The same agreement with aggregated and consent values read from materialized rows
# (``shoal_event_values``), as the embedded store does once a path is backfilled.
MATERIALIZED = settings(AGREEMENT, max_examples=100)


@regressions
@MATERIALIZED
@given(batch=batches())
def test_duckdb_agrees_materialized(duckdb_backend: DuckDBBackend, batch: Batch) -> None:
    check(duckdb_backend, batch, materialized=True)


@regressions
@MATERIALIZED
@given(batch=batches())
def test_postgres_agrees_materialized(postgres_backend: PostgresBackend, batch: Batch) -> None:
    check(postgres_backend, batch, materialized=True)


@regressions
@MATERIALIZED
@given(batch=batches())
def test_clickhouse_agrees_materialized(chdb_backend: ChdbBackend, batch: Batch) -> None:
    check(chdb_backend, batch, materialized=True)


def test_strategies_cover_every_node_kind_and_operator() -> None:
    """The random definitions reach every kind of node, operator, measure and event type
    (otherwise agreement would say nothing about the missing ones), and all validate."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(users=st.lists(conditions(USERS), max_size=5), accounts=conditions(ACCOUNTS))
    def collect(users: list[Any], accounts: Any) -> None:
        for collection, node in [*((USERS, u) for u in users), (ACCOUNTS, accounts)]:
            m.validate(node, collection)
            for n in m.walk(node):
                seen.add(type(n).__name__)
                if isinstance(n, m.Trait | m.Computed | m.Property):
                    seen.add(f"op:{n.op}")
                if isinstance(n, m.Event):
                    seen.update({f"measure:{n.measure}", f"type:{n.type}", f"op:{n.op}"})
                if isinstance(n, m.Sequence):
                    seen.add(f"followed:{n.followed}")

    collect()
    kinds = {t.__name__ for t in get_args(m.Condition)}
    ops = {f"op:{op}" for op in get_args(m.Op)}
    measures = {f"measure:{x}" for x in get_args(m.Measure)}
    types = {f"type:{x}" for x in get_args(m.EventType)}
    wanted = kinds | ops | measures | types | {"followed:True", "followed:False"}
    assert wanted - seen == set()
