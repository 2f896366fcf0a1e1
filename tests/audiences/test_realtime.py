"""Real-time passes evaluate every audience of a dependency level in one statement
(``shoal.audiences.combined``): it must give exactly the memberships that evaluating each
audience on its own gives.

* On generated definitions and data (the agreement tests' strategies), the combined members
  and changes equal each compiled query's, on DuckDB, with and without materialized values.
* On a running engine (real DuckDB store, identity resolution, audience service), audiences
  of several shapes (negation, sequences, a membership of another audience, an aggregate,
  one whose SQL fails) end up, after real-time passes, exactly as full refreshes one by one
  leave them, and an audience built on another follows it within the same pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.audiences import model as m
from shoal.audiences.combined import changes, combine
from shoal.audiences.compiler import ONLY_TABLE, compile_changes, compile_members
from shoal.audiences.members import MembershipStore
from shoal.audiences.schema import WAREHOUSE
from shoal.audiences.service import AudienceService
from shoal.audiences.text import parse, to_text
from shoal.control import ControlPlane
from shoal.identity import IdentityService
from shoal.queue import open_queue
from shoal.store.duckdb import DuckDBStore
from tests.audiences.dataset import NOW_MS, Dataset, DuckDBBackend, EventRow, Link, Profile
from tests.audiences.strategies import AUDIENCES, batches
from tests.identity.helpers import event

COMBINED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def backend() -> Iterator[DuckDBBackend]:
    made = DuckDBBackend()
    yield made
    made.close()


def _hold(conn: duckdb.DuckDBPyConnection, pks: list[int]) -> None:
    """The pass's profiles, where ``ONLY_TABLE`` queries find them."""
    conn.execute("CREATE OR REPLACE TEMP TABLE realtime_only (profile_id BIGINT)")
    conn.execute("INSERT INTO realtime_only SELECT unnest(?::BIGINT[])", [pks])


@given(batch=batches(), data=st.data())
@COMBINED
def test_combined_statement_agrees_with_each_audience(
    backend: DuckDBBackend, batch: tuple[str, list[Any], Any], data: st.DataObject
) -> None:
    collection, nodes, dataset = batch
    schema = WAREHOUSE
    if data.draw(st.booleans(), label="materialized"):
        paths = frozenset().union(*(m.materializable_paths(node) for node in nodes))
        dataset = dataclasses.replace(dataset, materialized=paths)
        schema = dataclasses.replace(WAREHOUSE, materialized=paths)
    backend.load(dataset)
    ids = sorted({p.profile_id for p in dataset.profiles})
    touched = sorted(data.draw(st.sets(st.sampled_from(ids)), label="touched"))
    keys = [data.draw(st.sampled_from(AUDIENCES), label="key") for _ in nodes]
    _hold(backend.conn, touched)
    space = dataset.space

    queries = [
        compile_members(node, collection, space, NOW_MS, "duckdb", schema, ONLY_TABLE)
        for node in nodes
    ]
    expected = {(i, pk) for i, sql in enumerate(queries) for pk in backend.rows(sql)}
    got = {(int(i), int(pk)) for i, pk in backend.conn.execute(combine(queries)).fetchall()}
    assert got == expected, "\n".join([to_text(node) for node in nodes] + [combine(queries)])

    # Changes: against current members of the (generated) audiences the keys name.
    one_by_one = set()
    for i, (node, key) in enumerate(zip(nodes, keys, strict=True)):
        sql = compile_changes(node, collection, space, NOW_MS, "duckdb", key, schema, touched)
        one_by_one |= {(i, int(pk), bool(e)) for pk, e in backend.conn.execute(sql).fetchall()}
    sql = changes(queries, keys, space, schema)
    rows = backend.conn.execute(sql).fetchall()
    assert len(rows) == len(set(rows)), "a change listed twice"
    assert {(int(i), int(pk), bool(e)) for i, pk, e in rows} == one_by_one


def test_an_or_among_the_conditions_keeps_its_parentheses(backend: DuckDBBackend) -> None:
    """A condition ``a and (b or c)`` taken apart and put together again is not
    ``a and b or c`` (a shrunk counterexample of the test above)."""
    data = Dataset(
        profiles=[Profile(m.USERS, 1, {"plan": ["free", 0]}), Profile(m.USERS, 2, None)],
        events=[EventRow(m.USERS, 1, "track", "Order Completed", NOW_MS - 1, None, None)],
    )
    backend.load(data)
    _hold(backend.conn, [1, 2])
    text = "trait('plan') = 'pro' and (trait('plan') = 'x' or event('Order Completed'))"
    sql = compile_members(parse(text), m.USERS, data.space, NOW_MS, "duckdb", WAREHOUSE,
                          ONLY_TABLE)  # fmt: skip
    assert backend.rows(sql) == []
    assert backend.conn.execute(combine([sql, sql])).fetchall() == []


def test_an_accounts_events_are_read_whole_for_its_users(backend: DuckDBBackend) -> None:
    """The pass names users; an ``account(...)`` condition reads the account's events, which
    no limit to those users may cut (a counterexample the property test above found)."""
    data = Dataset(
        profiles=[Profile(m.USERS, 3, None), Profile(m.ACCOUNTS, -201, None)],
        events=[EventRow(m.ACCOUNTS, -201, "track", "Order Completed", NOW_MS - 1, None, None)],
        links=[Link(3, -201)],
    )
    backend.load(data)
    _hold(backend.conn, [3])
    text = "account(event('Order Completed').first() exists)"
    sql = compile_members(parse(text), m.USERS, data.space, NOW_MS, "duckdb", WAREHOUSE,
                          ONLY_TABLE)  # fmt: skip
    assert backend.rows(sql) == [3]
    assert sorted(backend.conn.execute(combine([sql, sql])).fetchall()) == [(0, 3), (1, 3)]


SHAPES = {
    "buyers": "event('Order Completed')",
    "big_spenders": "event('Order Completed').sum('revenue') > 100",
    "never_signed_up": "event('Product Viewed') and not event('Signed Up')",
    "abandoned": "event('Product Added') then not event('Order Completed') within 1 hour",
    "viewed_then_bought": "event('Product Viewed') then event('Order Completed') within 1 day",
    "games": "event('Product Viewed').where(property('category') = 'Games').count() >= 2",
    "free_buyers": "audience('buyers') and not trait('plan') = 'pro'",
    "loyal_free_buyers": "audience('free_buyers') and event('Order Completed').count() >= 2",
    "pro": "trait('plan') = 'pro'",
}


def test_usual_shapes_become_one_select() -> None:
    """Aggregates are shared and each audience is a column: no audience of the usual shapes
    is left as a branch of its own (that would cost a join tree per audience again)."""
    queries = [
        compile_members(m.from_json(_tree(text)), m.USERS, "s", NOW_MS, "duckdb", WAREHOUSE,
                        ONLY_TABLE)
        for key, text in SHAPES.items()
    ]  # fmt: skip
    sql = combine(queries)
    assert "UNION ALL" not in sql
    assert sql.count("FROM shoal_events") == 1 + 2  # the shared aggregate, two sequences
    # Five distinct aggregates (the same one in two audiences is computed once).
    assert sql.count("FILTER(WHERE") >= 5


def _tree(text: str) -> dict[str, Any]:
    return m.to_json(parse(text))


async def _settled(service: AudienceService) -> None:
    """Until no real-time pass is due or running (a generous bound, not a timing check)."""
    for _ in range(6000):
        if not service.engine.pending():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the real-time passes never settled")


async def _ready(service: AudienceService) -> None:
    for _ in range(6000):
        if all(a.status != "pending" for a in service.repo.all()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the audiences were never computed")


def _events(now: int) -> list[Any]:
    hour = 3_600_000
    track = "track"
    out = []
    for i in range(30):
        user = f"u{i}"
        plan = "pro" if i % 4 == 0 else "free"
        out.append(event("identify", userId=user, traits={"plan": plan}, ts=now - 50 * hour))
        if i % 2 == 0:
            out.append(event(track, userId=user, event="Product Added", ts=now - 3 * hour))
        if i % 3 == 0:
            props = {"revenue": 40 + 10 * i}
            out.append(
                event(track, userId=user, event="Order Completed", properties=props,
                      ts=now - 2 * hour)
            )  # fmt: skip
        if i % 5 == 0:
            out.append(event(track, userId=user, event="Order Completed", ts=now - hour))
        if i % 3 != 2:
            category = "Games" if i % 2 else "Books"
            for k in range(1 + i % 3):
                out.append(
                    event(track, userId=user, event="Product Viewed",
                          properties={"category": category}, ts=now - 4 * hour + k)
                )  # fmt: skip
        if i % 7 == 0:
            out.append(event(track, userId=user, event="Signed Up", ts=now - 5 * hour))
    return out


@pytest.mark.parametrize("materialized", [False, True])
async def test_a_pass_leaves_the_memberships_full_refreshes_would(
    tmp_path: Path, materialized: bool
) -> None:
    control = ControlPlane(f"sqlite:///{tmp_path / 'control.db'}")
    control.migrate()
    control.bootstrap("token")
    owner = control.owner()
    store = DuckDBStore(tmp_path / "events.duckdb")
    await store.start()
    identity = IdentityService(control, store)
    await identity.start()
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    await queue.start()
    service = AudienceService(control, MembershipStore(store), queue, identity)
    # With values: passes read the event values identity keeps as rows, once complete.
    values = identity.store.values.ready
    service.engine.materialized = values if materialized else lambda space: frozenset()
    await service.start()
    try:
        definitions = {**SHAPES, "broken": "trait('name') matches 'a\\\\Z'"}
        for key, text in definitions.items():
            body = {"name": key, "key": key, "definition": text, "emit_events": False}
            await service.create(owner, "dev", body)
        await _ready(service)
        space = f"{owner.workspace_id}:dev"
        for _ in range(6000):
            if not materialized or "properties.revenue" in identity.store.values.ready(space):
                break
            await asyncio.sleep(0.01)
        now = int(time.time() * 1000)
        batch = [msgspec.structs.replace(e, workspace_id=owner.workspace_id) for e in _events(now)]
        # The first users' events in several rounds (passes coalesce what arrives while one
        # runs), the others' in one round (one pass), for the dependency check below.
        first = [e for e in batch if int(str(e.user_id)[1:]) < 15]
        for start in range(0, len(first), 17):
            await identity.stage.process_committed(first[start : start + 17])
        await _settled(service)
        await identity.stage.process_committed([e for e in batch if e not in first])
        await _settled(service)

        if materialized:
            assert "properties.revenue" in identity.store.values.ready(space)
        by_key = {a.key: a for a in service.repo.all()}
        assert by_key["broken"].status == "error"
        members = service.engine.members
        sizes = {}
        for key in SHAPES:
            sizes[key] = len(await members.members(space, key, 1000, None))
        # Every shape has members and non-members here, or the comparison would say little.
        assert all(0 < size < 30 for size in sizes.values()), sizes
        for key in SHAPES:
            outcome = await service.engine.refresh(by_key[key])
            assert (outcome.entered, outcome.exited) == (0, 0), key

        # Built on "buyers" through "free_buyers": for the users whose events all came in
        # one round, each entered in the same pass (the same moment) as the audience it is
        # built on, not a pass later.
        history = await members.history(space, None, None, 10_000)
        entered = {(c.audience, c.profile_id): c.at for c in history if c.change == "entered"}
        loyal = [pk for key, pk in entered if key == "loyal_free_buyers"]
        names = await members.identifiers(loyal)
        last = [pk for pk in loyal if int(names[pk]["user_id"][1:]) >= 15]
        assert last
        for pk in last:
            at = entered[("loyal_free_buyers", pk)]
            assert entered[("free_buyers", pk)] == at == entered[("buyers", pk)]
    finally:
        await service.stop()
        await queue.close()
        await identity.stop()
        await store.close()
        control.close()
