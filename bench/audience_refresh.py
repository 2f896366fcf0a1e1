"""Audience refresh on the embedded store: the compiled query against a hand-written one.

Targets (issue 5, item 10): the reference segment over 1,000,000 profiles and 20,000,000
events refreshes in **< 2 s**, and the compiled SQL takes **<= 1.5x** the time of the same
segment written by hand the way a DuckDB expert would.

The reference segment: users with more than one purchase (Order Completed), no page view
in the last 40 days, a total order value (sum of Order Completed ``revenue``) over $800,
and marketing consent. It is built as a condition tree (``model.from_json``), compiled with
``compile_members(tree, "users", space, now_ms, "duckdb", embedded_schema(materialized=…))``
(revenue and consent read from the materialized value rows, as ``shoal serve`` does once
the audience is saved and its paths are backfilled) and run on a
DuckDB connection to a generated store file (``audience_data.py``, cached under
``bench/.data/``) with the settings ``shoal serve`` gives the store (``threads`` 2, no
extension autoloading, ``memory_limit`` from ``SHOAL_STORE_MEMORY_LIMIT`` or the default, a
quarter of RAM), then again with 1GB (``--memory-limits store,1GB,256MB`` adds the old
256MB default). Both queries must return
the same set (asserted after the warm-up). Then they alternate (ABBA order), ``--runs``
times each; the report gives medians and the ratio compiled / hand-written.

For information only (no target): the reference segment over the JSON alone (an audience
whose paths are still being backfilled), against the hand-written query over the JSON; a
cart-abandonment sequence (Product Added in the last
30 days not followed by Order Completed within 24 hours) and an account condition (users of
enterprise accounts with >= 500 employees who viewed a product in the last 30 days), each
compiled and hand-written, checked equal and timed the same way.

    .venv/bin/python bench/audience_refresh.py            # ~1 h (+ ~20 min once for the data)
    .venv/bin/python bench/audience_refresh.py --quick    # 100k profiles, 2M events: ~2-3 min
    .venv/bin/python bench/audience_refresh.py --explain  # + EXPLAIN ANALYZE of both queries
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from audience_data import DATA_DIR, MATERIALIZED, NOW_MS, SPACE, ensure
from common import install_watchdog, median, print_header, verdict, write_json_result
from shoal.audiences import model
from shoal.audiences.compiler import compile_members
from shoal.audiences.embedded import embedded_schema
from shoal.audiences.model import DAY_MS
from shoal.settings import default_memory_limit

TARGET_S = 2.0
TARGET_RATIO = 1.5
STORE_THREADS = 2
"""``shoal serve``'s store threads (``Settings.store_threads``)."""


def store_memory_limit() -> str:
    """The memory limit ``shoal serve`` gives the store here (``Settings.store_memory_limit``)."""
    return os.environ.get("SHOAL_STORE_MEMORY_LIMIT") or default_memory_limit()


REFERENCE: dict[str, Any] = {
    "kind": "all",
    "all": [
        {"kind": "event", "type": "track", "event": "Order Completed", "op": "gt", "value": 1},
        {"kind": "event", "type": "page", "window": {"last_days": 40}, "op": "eq", "value": 0},
        {"kind": "event", "type": "track", "event": "Order Completed", "measure": "sum",
         "property": "revenue", "op": "gt", "value": 800},
        {"kind": "consent", "category": "marketing"},
    ],
}  # fmt: skip
CART_ABANDONMENT: dict[str, Any] = {
    "kind": "sequence",
    "first": {"type": "track", "event": "Product Added"},
    "then": {"type": "track", "event": "Order Completed"},
    "within_s": 86_400,
    "followed": False,
    "window": {"last_days": 30},
}
ACCOUNT: dict[str, Any] = {
    "kind": "all",
    "all": [
        {"kind": "account", "where": {"kind": "all", "all": [
            {"kind": "trait", "name": "plan", "op": "eq", "value": "enterprise"},
            {"kind": "trait", "name": "employees", "op": "gte", "value": 500},
        ]}},
        {"kind": "event", "type": "track", "event": "Product Viewed",
         "window": {"last_days": 30}, "op": "gte", "value": 1},
    ],
}  # fmt: skip

_S = f"'{SPACE}'"
_DAY = DAY_MS

# The hand-written queries: what a DuckDB expert writes for the same result. Reading the
# ``message`` JSON is what costs (a column of ~0.9 kB per event): the reference segment is
# narrowed first with the columns alone (more than one order, no page view since the cut-off),
# then one pass over those candidates' events (a hash join on their profile rows, merged ones
# included) reads the revenue of their orders and their newest consent; the JSON path is only
# parsed where the key occurs in the text (``contains`` is a cheap prefilter).
_CANDIDATES = f"""
WITH buyers AS (
    SELECT p.canonical AS id
    FROM identity_events e JOIN identity_profiles p ON p.pk = e.pk
    WHERE e.space = {_S} AND e.type = 'track' AND e.event = 'Order Completed'
      AND p.collection = 'users'
    GROUP BY p.canonical
    HAVING count(*) > 1
),
visited AS (
    SELECT DISTINCT p.canonical AS id
    FROM identity_events e JOIN identity_profiles p ON p.pk = e.pk
    WHERE e.space = {_S} AND e.type = 'page' AND e.timestamp >= {NOW_MS - 40 * _DAY}
),
candidate_pks AS (
    SELECT pk, canonical AS id FROM identity_profiles
    WHERE canonical IN (SELECT id FROM buyers) AND canonical NOT IN (SELECT id FROM visited)
),
"""
HAND_REFERENCE = (
    _CANDIDATES
    + f"""
facts AS (
    SELECT k.id,
           sum(TRY_CAST(e.message ->> '$.properties.revenue' AS DOUBLE))
               FILTER (WHERE e.type = 'track' AND e.event = 'Order Completed') AS revenue,
           arg_max(e.message ->> '$.context.consent.categoryPreferences.marketing', e.timestamp)
               FILTER (WHERE contains(e.message, '"marketing":')
                       AND (e.message ->> '$.context.consent.categoryPreferences.marketing')
                           IN ('true', 'false')) AS consent
    FROM identity_events e JOIN candidate_pks k ON k.pk = e.pk
    WHERE e.space = {_S}
    GROUP BY k.id
)
SELECT p.pk
FROM facts f JOIN identity_profiles p ON p.pk = f.id
WHERE p.canonical = p.pk AND p.space = {_S} AND p.collection = 'users' AND f.revenue > 800
  AND coalesce(f.consent, p.traits ->> '$.consent[0].marketing') = 'true'
"""
)

# The same over the materialized value rows: the narrow columns alone for the candidates,
# then those candidates' revenue and newest consent from the value rows (numeric strings
# count, as the compiled query's JSON semantics say; only JSON booleans are consent).
HAND_REFERENCE_VALUES = (
    _CANDIDATES
    + f"""
revenue AS (
    SELECT k.id, sum(TRY_CAST(trim(v.value, '"') AS DOUBLE)) AS revenue
    FROM identity_event_values v JOIN candidate_pks k ON k.pk = v.pk
    WHERE v.space = {_S} AND v.path = 'properties.revenue' AND v.type = 'track'
      AND v.event = 'Order Completed'
    GROUP BY k.id
),
consent AS (
    SELECT k.id, arg_max(v.value, v.timestamp) AS consent
    FROM identity_event_values v JOIN candidate_pks k ON k.pk = v.pk
    WHERE v.space = {_S} AND v.path = 'context.consent.categoryPreferences.marketing'
      AND v.value IN ('true', 'false')
    GROUP BY k.id
)
SELECT p.pk
FROM revenue r JOIN identity_profiles p ON p.pk = r.id LEFT JOIN consent c ON c.id = r.id
WHERE p.canonical = p.pk AND p.space = {_S} AND p.collection = 'users' AND r.revenue > 800
  AND coalesce(c.consent, p.traits ->> '$.consent[0].marketing') = 'true'
"""
)

HAND_CART = f"""
WITH steps AS (
    SELECT p.canonical AS id, e.timestamp, e.event
    FROM identity_events e JOIN identity_profiles p ON p.pk = e.pk
    WHERE e.space = {_S} AND p.collection = 'users' AND e.type = 'track'
      AND e.event IN ('Product Added', 'Order Completed')
),
ordered AS (
    SELECT id, timestamp, event,
           min(CASE WHEN event = 'Order Completed' THEN timestamp END) OVER (
               PARTITION BY id ORDER BY timestamp
               RANGE BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_order
    FROM steps
)
SELECT DISTINCT o.id
FROM ordered o JOIN identity_profiles p ON p.pk = o.id
WHERE p.canonical = p.pk AND p.space = {_S} AND p.collection = 'users'
  AND o.event = 'Product Added' AND o.timestamp >= {NOW_MS - 30 * _DAY}
  AND o.timestamp <= {NOW_MS - 86_400_000}
  AND (o.next_order IS NULL OR o.next_order - o.timestamp > 86400000)
"""

HAND_ACCOUNT = f"""
WITH accounts AS (
    SELECT pk FROM identity_profiles
    WHERE space = {_S} AND collection = 'accounts' AND canonical = pk
      AND traits ->> '$.plan[0]' = 'enterprise'
      AND TRY_CAST(traits ->> '$.employees[0]' AS DOUBLE) >= 500
),
members AS (
    SELECT DISTINCT u.canonical AS id
    FROM identity_links l
    JOIN identity_profiles a ON a.pk = l.account_pk
    JOIN identity_profiles u ON u.pk = l.user_pk
    WHERE l.space = {_S} AND a.canonical IN (SELECT pk FROM accounts)
)
SELECT m.id
FROM members m JOIN identity_profiles p ON p.pk = m.id
WHERE p.canonical = p.pk AND p.space = {_S} AND p.collection = 'users'
  AND EXISTS (
      SELECT 1 FROM identity_events e JOIN identity_profiles q ON q.pk = e.pk
      WHERE q.canonical = m.id AND e.space = {_S} AND e.type = 'track'
        AND e.event = 'Product Viewed' AND e.timestamp >= {NOW_MS - 30 * _DAY}
  )
"""


@dataclass
class Case:
    """One segment: its tree, the hand-written SQL, and whether it has targets."""

    name: str
    tree: dict[str, Any]
    hand: str
    targeted: bool
    materialized: frozenset[str] = MATERIALIZED


CASES = [
    Case("reference segment", REFERENCE, HAND_REFERENCE_VALUES, True),
    Case("reference segment over the JSON", REFERENCE, HAND_REFERENCE, False, frozenset()),
    Case("cart abandonment (sequence)", CART_ABANDONMENT, HAND_CART, False),
    Case("account condition", ACCOUNT, HAND_ACCOUNT, False),
]


def compiled_sql(
    tree: dict[str, Any], materialized: frozenset[str] = MATERIALIZED
) -> tuple[str, float]:
    """The compiled members query for ``tree`` and the seconds compiling took."""
    start = time.perf_counter()
    node = model.from_json(tree)
    model.validate(node, "users")
    schema = embedded_schema(materialized=materialized)
    sql = compile_members(node, "users", SPACE, NOW_MS, "duckdb", schema)
    return sql, time.perf_counter() - start


def connect(path: Path, memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    """A connection with the store's settings (``DuckDBStore._config``), read-only so the
    cached file is never changed."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "threads": str(threads),
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    return duckdb.connect(str(path), read_only=True, config=config)


def timed(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[float, set[int]]:
    """Seconds to run ``sql`` and fetch every row, and the ids it returned."""
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    elapsed = time.perf_counter() - start
    ids = {int(r[0]) for r in rows}
    if len(ids) != len(rows):
        raise AssertionError(f"duplicate ids in the result ({len(rows)} rows, {len(ids)} ids)")
    return elapsed, ids


def explain(con: duckdb.DuckDBPyConnection, label: str, sql: str) -> None:
    """Print EXPLAIN ANALYZE of ``sql`` (the operator tree with timings)."""
    print(f"\n---- EXPLAIN ANALYZE: {label} ----")
    for _kind, plan in con.execute("EXPLAIN ANALYZE " + sql).fetchall():
        print(plan)


def measure(
    con: duckdb.DuckDBPyConnection, case: Case, runs: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Warm-up (and equality check), then ``runs`` alternating runs of each query."""
    compiled_sql(case.tree)  # the first compile pays for imports and sqlglot's caches
    sql, compile_s = compiled_sql(case.tree, case.materialized)
    warm_c, got_c = timed(con, sql)
    warm_h, got_h = timed(con, case.hand)
    if got_c != got_h:
        raise AssertionError(
            f"{case.name}: compiled and hand-written results differ: {len(got_c)} vs "
            f"{len(got_h)} ids, {len(got_c - got_h)} only compiled, "
            f"{len(got_h - got_c)} only hand-written"
        )
    log(f"  warm-up: compiled {warm_c:.2f} s, hand-written {warm_h:.2f} s, "
        f"{len(got_c):,} members (same set)")  # fmt: skip
    compiled: list[float] = []
    hand: list[float] = []
    for rep in range(runs):
        order = [("c", sql), ("h", case.hand)]
        if rep % 2:
            order.reverse()  # ABBA: neither query always runs first
        for kind, query in order:
            seconds, _ = timed(con, query)
            (compiled if kind == "c" else hand).append(seconds)
    c_med, h_med = median(compiled), median(hand)
    ratio = c_med / h_med if h_med > 0 else float("nan")
    log(f"  compiled     median {c_med:7.3f} s   runs {' '.join(f'{t:.2f}' for t in compiled)}")
    log(f"  hand-written median {h_med:7.3f} s   runs {' '.join(f'{t:.2f}' for t in hand)}")
    log(f"  ratio compiled / hand-written: {ratio:.2f}   (compile: {compile_s * 1000:.1f} ms, "
        f"loadavg {os.getloadavg()[0]:.1f})")  # fmt: skip
    return {
        "members": len(got_c),
        "compiled_s": compiled,
        "hand_s": hand,
        "compiled_median_s": c_med,
        "hand_median_s": h_med,
        "ratio": ratio,
        "compile_ms": compile_s * 1000,
        "warmup_s": {"compiled": warm_c, "hand": warm_h},
        "loadavg_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query")
    parser.add_argument(
        "--memory-limits",
        default="store,1GB",
        help="DuckDB memory_limit values, in order ('store': what shoal serve uses)",
    )
    parser.add_argument("--threads", type=int, default=STORE_THREADS)
    parser.add_argument("--only-reference", action="store_true", help="skip the info cases")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--regenerate", action="store_true", help="ignore a cached file")
    parser.add_argument("--quick", action="store_true", help="100k profiles, 2M events, 3 runs")
    parser.add_argument("--json", help="Write the figures to this file.")
    args = parser.parse_args()
    if args.quick:
        args.profiles, args.events, args.runs = 100_000, 2_000_000, 3
    install_watchdog(900 if args.quick else 3 * 3600)
    print_header(
        "Audience refresh: compiled vs hand-written SQL on the embedded store",
        None,
        [
            f"{args.profiles:,} profiles, {args.events:,} events; now = {NOW_MS} "
            f"({time.strftime('%Y-%m-%d', time.gmtime(NOW_MS / 1000))}); "
            f"duckdb {duckdb.__version__}, threads {args.threads}; the store's memory_limit "
            f"here: {store_memory_limit()}",
            f"targets: reference segment < {TARGET_S:.0f} s and compiled/hand-written "
            f"<= {TARGET_RATIO}",
        ],
    )
    path = ensure(args.profiles, args.events, args.data_dir, args.regenerate)
    cases = CASES[:1] if args.only_reference else CASES
    results: dict[str, Any] = {"profiles": args.profiles, "events": args.events, "runs": {}}
    verdicts: list[str] = []
    limits = [m.strip() for m in args.memory_limits.split(",") if m.strip()]
    limits = [store_memory_limit() if m == "store" else m for m in limits]
    for limit in limits:
        con = connect(path, limit, args.threads)
        try:
            per_limit: dict[str, Any] = {}
            for case in cases:
                print(f"\n[{case.name}] memory_limit={limit} threads={args.threads}", flush=True)
                figures = measure(con, case, args.runs, lambda line: print(line, flush=True))
                per_limit[case.name] = figures
                if case.targeted:
                    fast = figures["compiled_median_s"] < TARGET_S
                    close = figures["ratio"] <= TARGET_RATIO
                    verdicts.append(
                        f"memory_limit={limit}: compiled median "
                        f"{figures['compiled_median_s']:.2f} s < {TARGET_S:.0f} s: "
                        f"{verdict(fast)}; ratio {figures['ratio']:.2f} <= {TARGET_RATIO}: "
                        f"{verdict(close)}"
                    )
                if args.explain:
                    sql = compiled_sql(case.tree, case.materialized)[0]
                    explain(con, f"{case.name}, compiled", sql)
                    explain(con, f"{case.name}, hand-written", case.hand)
            results["runs"][limit] = per_limit
        finally:
            con.close()
    print("\n== targets (reference segment) ==")
    for line in verdicts:
        print(line)
    write_json_result(args.json, results)


if __name__ == "__main__":
    main()
