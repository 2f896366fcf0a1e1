"""A generated store file for the audience benchmarks: identity tables with N profiles and M events.

The tables are created by shoal's own migrations (``DuckDBStore`` + ``DuckDBIdentityStore``
and the audiences' ``embedded.MIGRATIONS``) and filled with set-based DuckDB SQL (``range()``
and ``hash()``: no Python loops, and the same file for the same N and M on the same DuckDB
version). The rows look like the identity stage's:

* ``identity_profiles``: N user profiles (``pk`` a 63-bit hash, traits as
  ``{"trait": [value, set_at_ms]}``) and N/100 accounts. 70% of users are identified (email,
  name, plan, created_at); 4% are anonymous profiles merged into another user
  (``canonical != pk``), whose events count for the canonical one.
* ``identity_events``: M timeline rows in arrival order (``seq`` grows with time), spread
  over the 365 days before ``NOW_MS``, each with the whole normalized Segment message as
  JSON (~0.6-1.1 kB, like analytics.js and analytics-node send). Events come in sessions of
  8 (one every ~45 s) of one user, picked with a heavy-tailed activity (a few users have
  thousands of events, a fifth none): about 72% page views (60% of them named), 17%
  Product Viewed, 4% Product Added (20% of sessions add to cart), 1.5% Checkout Started
  and 1.5% Order Completed (12% of sessions buy; ``revenue``/``total`` numbers, 3% of
  revenues as numeric strings, ``currency``, ``products`` with ``product_id``),
  identify calls with traits and group calls (also on the account's timeline).
* Consent: 45% of users' browser events carry
  ``context.consent.categoryPreferences.marketing`` (true for 55% of them, flipped on some
  days); identified users with 0.30 <= roll < 0.65 also have a ``consent`` trait
  (``{"marketing": …}``) that decides when no event does. Order Completed comes from the
  server (analytics-node) without consent.
* ``identity_ids`` (anonymous_id, user_id, email, group_id), ``identity_merges`` and
  ``identity_links`` (30% of identified users belong to an account).
* Materialized values (``identity_event_values``) of the two paths the reference segment
  reads, ``properties.revenue`` and ``context.consent.categoryPreferences.marketing``, as a
  running shoal writes them once an audience using them is saved: by shoal's own backfill
  (``MaterializedValues``), which a cached file from before gets on its next use.

The file is cached under ``bench/.data/`` keyed by N, M and ``VERSION`` (bump it when the
generator changes); it is written under a temporary name and renamed when complete.

    .venv/bin/python bench/audience_data.py --profiles 1000000 --events 20000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import duckdb

from shoal.audiences import embedded
from shoal.audiences.model import DAY_MS, parse_date
from shoal.identity.duckdb_store import DuckDBIdentityStore
from shoal.store.duckdb import DuckDBStore

VERSION = 2
DATA_DIR = Path(__file__).resolve().parent / ".data"
SPACE = "ws_bench:production"
NOW_MS = parse_date("2026-11-01T00:00:00Z")
"""The benchmark's fixed "now": events end there, queries are compiled for it."""
SPAN_MS = 365 * DAY_MS
START_MS = NOW_MS - SPAN_MS
SESSION = 8
CHUNK = 2_000_000
MERGED = 0.04
IDENTIFIED = 0.70
EVENT_CONSENT = 0.45
LINKED = 0.30

_MACROS = f"""
CREATE OR REPLACE TEMP MACRO bu(i, salt) AS (hash(i, salt) % 1000000007)::DOUBLE / 1000000007.0;
CREATE OR REPLACE TEMP MACRO upk(idx) AS (hash('user', idx) >> 1)::BIGINT;
CREATE OR REPLACE TEMP MACRO apk(a) AS (hash('account', a) >> 1)::BIGINT;
CREATE OR REPLACE TEMP MACRO idkey(kind, value) AS
    (hash('{SPACE}' || chr(31) || kind || chr(31) || value) >> 1)::BIGINT;
CREATE OR REPLACE TEMP MACRO iso(ms) AS
    strftime(make_timestamp(ms * 1000), '%Y-%m-%dT%H:%M:%S.%gZ');
CREATE OR REPLACE TEMP MACRO merged(idx) AS bu(idx, 'merge') < {MERGED};
CREATE OR REPLACE TEMP MACRO identified(idx) AS
    NOT merged(idx) AND bu(idx, 'ident') < {IDENTIFIED};
CREATE OR REPLACE TEMP MACRO trait_consent(idx) AS
    identified(idx) AND bu(idx, 'cg') >= 0.30 AND bu(idx, 'cg') < 0.65;
CREATE OR REPLACE TEMP MACRO linked(idx) AS identified(idx) AND bu(idx, 'link') < {LINKED};
CREATE OR REPLACE TEMP MACRO plan(idx) AS
    CASE WHEN bu(idx, 'plan') < 0.6 THEN 'free' WHEN bu(idx, 'plan') < 0.9 THEN 'pro'
    ELSE 'enterprise' END;
CREATE OR REPLACE TEMP MACRO jbool(b) AS CASE WHEN b THEN 'true' ELSE 'false' END;
"""


def data_path(profiles: int, events: int, data_dir: Path = DATA_DIR) -> Path:
    """Where the file for N profiles and M events is cached."""
    return data_dir / f"audiences-p{profiles}-e{events}-v{VERSION}.duckdb"


def _users_sql(profiles: int, accounts: int) -> list[str]:
    """Profiles, ids, merges and links (a few million rows: one statement each)."""
    n = profiles
    t = START_MS
    return [
        f"""CREATE OR REPLACE TEMP TABLE bench_canon AS
        SELECT (row_number() OVER (ORDER BY idx) - 1)::BIGINT AS rn, idx
        FROM range({n}) r(idx) WHERE NOT merged(idx)""",
        f"""CREATE OR REPLACE TEMP TABLE bench_users AS
        WITH u AS (
            SELECT idx, merged(idx) AS merged,
                   hash(idx, 'into') % (SELECT count(*) FROM bench_canon) AS target
            FROM range({n}) r(idx)
        )
        SELECT u.idx, upk(u.idx) AS pk, u.merged,
               CASE WHEN u.merged THEN upk(c.idx) ELSE upk(u.idx) END AS canonical
        FROM u LEFT JOIN bench_canon c ON u.merged AND c.rn = u.target""",
        f"""INSERT INTO identity_profiles
        WITH m AS (SELECT canonical, count(*) AS merges FROM bench_users WHERE merged GROUP BY 1),
        p AS (
            SELECT b.idx, b.pk, b.canonical, coalesce(m.merges, 0)::INTEGER AS merges,
                   {t} - (hash(b.idx, 'created') % {SPAN_MS})::BIGINT AS created_at,
                   {NOW_MS} - (hash(b.idx, 'seen') % {30 * DAY_MS})::BIGINT AS last_seen
            FROM bench_users b LEFT JOIN m ON m.canonical = b.pk
        )
        SELECT '{SPACE}', pk, 'users', canonical, created_at, 'ajs-first-' || idx, 'src_web',
               last_seen, 'ajs-last-' || idx, 'src_web', merges,
               CASE WHEN identified(idx) THEN
                   '{{"email":["user' || idx || '@example.com",' || created_at || '],'
                   || '"name":["User ' || idx || '",' || created_at || '],'
                   || '"plan":["' || plan(idx) || '",' || created_at || '],'
                   || CASE WHEN trait_consent(idx) THEN
                          '"consent":[{{"marketing":' || jbool(bu(idx, 'mt') < 0.5)
                          || ',"analytics":true}},' || created_at || '],'
                      ELSE '' END
                   || '"created_at":["' || iso(created_at) || '",' || created_at || ']}}'
               ELSE '{{}}' END,
               last_seen
        FROM p""",
        f"""INSERT INTO identity_profiles
        WITH a AS (
            SELECT a, apk(a) AS pk, {t} - (hash(a, 'created') % {SPAN_MS})::BIGINT AS created_at
            FROM range({accounts}) r(a)
        )
        SELECT '{SPACE}', pk, 'accounts', pk, created_at, 'ajs-group-' || a, 'src_web',
               {NOW_MS} - (hash(a, 'seen') % {30 * DAY_MS})::BIGINT, 'ajs-group-' || a,
               'src_web', 0,
               '{{"name":["Account ' || a || '",' || created_at || '],'
               || '"plan":["' || CASE WHEN bu(a, 'aplan') < 0.5 THEN 'starter'
                                      WHEN bu(a, 'aplan') < 0.85 THEN 'business'
                                      ELSE 'enterprise' END || '",' || created_at || '],'
               || '"industry":["' || ['retail', 'software', 'finance', 'health'][
                      (hash(a, 'ind') % 4)::INTEGER + 1] || '",' || created_at || '],'
               || '"employees":[' || (floor(pow(bu(a, 'emp'), 2.5) * 5000) + 1)::BIGINT || ','
               || created_at || ']}}',
               created_at
        FROM a""",
        f"""INSERT INTO identity_ids
        SELECT '{SPACE}', idkey('users' || chr(31) || 'anonymous_id', 'anon-' || idx), 'users',
               'anonymous_id', 'anon-' || idx, pk, {t}, 'ajs-first-' || idx, 'src_web', {t}
        FROM bench_users
        UNION ALL
        SELECT '{SPACE}', idkey('users' || chr(31) || 'user_id', 'user-' || idx), 'users',
               'user_id', 'user-' || idx, pk, {t}, 'ajs-first-' || idx, 'src_web', {t}
        FROM bench_users WHERE identified(idx)
        UNION ALL
        SELECT '{SPACE}', idkey('users' || chr(31) || 'email', 'user' || idx || '@example.com'),
               'users', 'email', 'user' || idx || '@example.com', pk, {t},
               'ajs-first-' || idx, 'src_web', {t}
        FROM bench_users WHERE identified(idx)
        UNION ALL
        SELECT '{SPACE}', idkey('accounts' || chr(31) || 'group_id', 'acct-' || a), 'accounts',
               'group_id', 'acct-' || a, apk(a), {t}, 'ajs-group-' || a, 'src_web', {t}
        FROM range({accounts}) r(a)""",
        f"""INSERT INTO identity_merges
        SELECT '{SPACE}', 'users', pk, canonical, 'ajs-merge-' || idx, 'src_web',
               {t} + (hash(idx, 'mtime') % {SPAN_MS})::BIGINT, 'shared identifier', {NOW_MS}
        FROM bench_users WHERE merged""",
        f"""INSERT INTO identity_links
        SELECT '{SPACE}', pk, apk((hash(idx, 'acct') % {accounts})::BIGINT), 'ajs-link-' || idx,
               'src_web', {t} + (hash(idx, 'lt') % {SPAN_MS})::BIGINT
        FROM bench_users WHERE linked(idx)""",
    ]


def _events_sql(lo: int, hi: int, profiles: int, events: int, accounts: int) -> str:
    """Timeline rows for events ``lo <= i < hi`` (account copies of group calls included)."""
    sessions = -(-events // SESSION)
    page = (
        '\'{"path":"\' || path || \'","referrer":"https://www.google.com/","search":"",'
        '"title":"\' || title || \'","url":"https://shop.example.com\' || path || \'"}\''
    )
    return f"""
    INSERT INTO identity_events
    WITH s AS (
        SELECT i, i // {SESSION} AS s, i % {SESSION} AS step,
               least(floor({profiles} * pow(bu(i // {SESSION}, 'who'), 1.6)),
                     {profiles - 1})::BIGINT AS idx,
               bu(i // {SESSION}, 'kind') AS kind,
               {START_MS} + (i // {SESSION}) * {SPAN_MS} // {sessions} + (i % {SESSION}) * 45000
                   + (hash(i, 'j') % 30000)::BIGINT AS ts,
               floor(5000 * pow(bu(i, 'pid'), 1.3))::BIGINT AS pid,
               bu(i, 'pg') AS pg
        FROM range({lo}, {hi}) r(i)
    ),
    k AS (
        SELECT *,
               CASE WHEN step = 7 AND kind < 0.12 THEN 'order'
                    WHEN step = 6 AND kind < 0.12 THEN 'checkout'
                    WHEN step = 5 AND kind < 0.32 THEN 'added'
                    WHEN step = 0 AND identified(idx) AND bu(s, 'login') < 0.25 THEN 'identify'
                    WHEN step = 1 AND linked(idx) AND bu(s, 'grp') < 0.05 THEN 'group'
                    WHEN bu(i, 'r') < 0.78 THEN 'page'
                    ELSE 'viewed' END AS k,
               CASE WHEN pg < 0.15 THEN 'Home' WHEN pg < 0.45 THEN 'Product'
                    WHEN pg < 0.55 THEN 'Category' WHEN pg < 0.60 THEN 'Cart' END AS page_name,
               (15 + pow(bu(s, 'rev'), 2.2) * 985)::DECIMAL(10, 2) AS revenue,
               ((pid % 200) * 1.5 + 9.99)::DECIMAL(10, 2) AS price,
               (hash(idx, 'acct') % {accounts})::BIGINT AS acct
        FROM s
    ),
    f AS (
        SELECT *,
               CASE page_name WHEN 'Home' THEN '/' WHEN 'Product' THEN '/products/p-' || pid
                    WHEN 'Category' THEN '/c/cat-' || (pid % 40) WHEN 'Cart' THEN '/cart'
                    ELSE '/blog/post-' || (pid % 300) END AS path,
               coalesce(page_name, 'Blog') || ' | Shop' AS title,
               CASE k WHEN 'page' THEN 'page' WHEN 'identify' THEN 'identify'
                      WHEN 'group' THEN 'group' ELSE 'track' END AS type,
               CASE k WHEN 'order' THEN 'Order Completed' WHEN 'checkout' THEN 'Checkout Started'
                      WHEN 'added' THEN 'Product Added' WHEN 'viewed' THEN 'Product Viewed'
                      WHEN 'page' THEN page_name END AS event,
               iso(ts) AS iso_ts,
               'ajs-next-' || format('{{:016x}}', hash(i, 'mid')) AS mid,
               CASE WHEN (bu(idx, 'mk') < 0.55) <> (hash(idx, ts // {DAY_MS}) % 12 = 0)
                    THEN 'true' ELSE 'false' END AS marketing
        FROM k
    ),
    m AS (
        SELECT *,
               '{{"anonymousId":"anon-' || idx || '",'
               || CASE WHEN identified(idx) THEN '"userId":"user-' || idx || '",' ELSE '' END
               || '"channel":"' || CASE WHEN k = 'order' THEN 'server' ELSE 'browser' END || '",'
               || '"context":' || CASE WHEN k = 'order' THEN
                      '{{"library":{{"name":"analytics-node","version":"2.1.2"}}}}'
                  ELSE
                      '{{' || CASE WHEN bu(idx, 'cg') < {EVENT_CONSENT} THEN
                          '"consent":{{"categoryPreferences":{{"advertising":'
                          || jbool(bu(idx, 'adv') < 0.4) || ',"analytics":true,"marketing":'
                          || marketing || '}}}},' ELSE '' END
                      || '"ip":"10.' || (idx % 250) || '.' || (idx // 250 % 250) || '.'
                      || (idx // 62500 % 250) || '",'
                      || '"library":{{"name":"analytics.js","version":"npm:next-1.72.0"}},'
                      || '"locale":"en-US","page":' || {page} || ','
                      || '"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) '
                      || 'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"}}'
                  END || ','
               || CASE k
                  WHEN 'page' THEN
                      CASE WHEN page_name IS NULL THEN '' ELSE '"name":"' || page_name || '",' END
                      || '"properties":' || {page} || ','
                  WHEN 'identify' THEN
                      '"traits":{{"email":"user' || idx || '@example.com","name":"User ' || idx
                      || '","plan":"' || plan(idx) || '"'
                      || CASE WHEN trait_consent(idx) THEN ',"consent":{{"marketing":'
                             || jbool(bu(idx, 'mt') < 0.5) || ',"analytics":true}}' ELSE '' END
                      || '}},'
                  WHEN 'group' THEN
                      '"groupId":"acct-' || acct || '","traits":{{"name":"Account ' || acct
                      || '"}},'
                  WHEN 'order' THEN
                      '"event":"Order Completed","properties":{{"order_id":"o-' || s
                      || '","checkout_id":"c-' || s || '","total":' || (revenue + 5.00)
                      || ',"revenue":' || CASE WHEN bu(s, 'revs') < 0.03
                          THEN '"' || revenue || '"' ELSE revenue::VARCHAR END
                      || ',"shipping":5.00,"tax":' || (revenue * 0.08)::DECIMAL(10, 2)
                      || ',"currency":"' || CASE WHEN bu(s, 'cur') < 0.85 THEN 'USD'
                          WHEN bu(s, 'cur') < 0.95 THEN 'EUR' ELSE 'GBP' END
                      || '","products":[{{"product_id":"p-' || pid || '","sku":"SKU-' || pid
                      || '","price":' || revenue || ',"quantity":1}}]}},'
                  WHEN 'checkout' THEN
                      '"event":"Checkout Started","properties":{{"order_id":"o-' || s
                      || '","value":' || revenue || ',"currency":"USD"}},'
                  ELSE
                      '"event":"' || event || '","properties":{{"product_id":"p-' || pid
                      || '","sku":"SKU-' || pid || '","category":"cat-' || (pid % 40)
                      || '","name":"Product ' || pid || '","price":' || price
                      || ',"quantity":1,"currency":"USD"}},'
                  END
               || '"integrations":{{}},"messageId":"' || mid
               || '","originalTimestamp":"' || iso_ts || '","receivedAt":"' || iso_ts
               || '","sentAt":"' || iso_ts || '","timestamp":"' || iso_ts
               || '","type":"' || type || '"}}' AS message
        FROM f
    ),
    rows AS (
        SELECT *, unnest(CASE WHEN k = 'group' THEN [0, 1] ELSE [0] END) AS copy FROM m
    )
    SELECT '{SPACE}', CASE WHEN copy = 1 THEN apk(acct) ELSE upk(idx) END, 2 * i + copy + 1, ts,
           CASE WHEN k = 'order' THEN 'src_server' ELSE 'src_web' END, mid, type, event, message
    FROM rows
    ORDER BY i, copy
    """


def generate(path: Path, profiles: int, events: int, memory_limit: str = "3GB") -> float:
    """Write the store file at ``path`` (replacing a partial one); returns the seconds taken."""
    accounts = max(10, profiles // 100)
    partial = path.with_name(path.name + ".partial")
    for stale in (partial, partial.with_name(partial.name + ".wal")):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    async def run() -> None:
        store = DuckDBStore(partial, memory_limit=memory_limit, threads=os.cpu_count() or 2)
        await store.start()
        try:
            await DuckDBIdentityStore(store).start()
            await store.migrate("audiences", embedded.MIGRATIONS)

            def load(con: duckdb.DuckDBPyConnection) -> None:
                for statement in filter(str.strip, _MACROS.split(";")):
                    con.execute(statement)
                for statement in _users_sql(profiles, accounts):
                    con.execute(statement)
                print(f"  profiles, ids, merges, links: {time.perf_counter() - start:.0f} s")
                for lo in range(0, events, CHUNK):
                    hi = min(events, lo + CHUNK)
                    con.execute(_events_sql(lo, hi, profiles, events, accounts))
                    con.execute("CHECKPOINT")
                    print(f"  events {hi:,}/{events:,}: {time.perf_counter() - start:.0f} s",
                          flush=True)  # fmt: skip
                con.execute("DROP TABLE bench_users")
                con.execute("DROP TABLE bench_canon")

            await store.run_write(load)
        finally:
            await store.close()

    asyncio.run(run())
    partial.rename(path)
    return time.perf_counter() - start


MATERIALIZED = frozenset({"properties.revenue", "context.consent.categoryPreferences.marketing"})
"""The event paths the reference segment aggregates or checks consent on."""


def materialize(path: Path, memory_limit: str = "3GB") -> None:
    """Materialize ``MATERIALIZED`` in the file with shoal's own registry and backfill
    (what saving the reference audience does in a running shoal); a no-op when done."""

    async def run() -> None:
        store = DuckDBStore(path, memory_limit=memory_limit, threads=os.cpu_count() or 2)
        await store.start()
        identity = DuckDBIdentityStore(store)
        try:
            await identity.start()
            if identity.values.ready(SPACE) >= MATERIALIZED:
                return
            start = time.perf_counter()
            done = asyncio.Event()
            identity.values.on_ready.append(
                lambda space: done.set() if identity.values.ready(space) >= MATERIALIZED else None
            )
            await identity.values.materialize(SPACE, MATERIALIZED)
            await done.wait()
            rows = await store.run_read(
                lambda cur: cur.execute("SELECT count(*) FROM identity_event_values").fetchone()
            )
            await store.run_write(lambda con: con.execute("CHECKPOINT"))
            count = rows[0] if rows else 0
            print(f"data:      materialized {sorted(MATERIALIZED)}: {count:,} value rows in "
                  f"{time.perf_counter() - start:.0f} s (shoal's backfill)")  # fmt: skip
        finally:
            await identity.values.stop()
            await store.close()

    asyncio.run(run())


def ensure(profiles: int, events: int, data_dir: Path = DATA_DIR, regenerate: bool = False) -> Path:
    """The cached file for N and M, generated first if it is missing (or ``regenerate``),
    with its values materialized."""
    path = data_path(profiles, events, data_dir)
    if path.exists() and not regenerate:
        print(f"data:      {path} (cached, {path.stat().st_size / 1e9:.2f} GB)")
    else:
        print(f"data:      generating {path} ({profiles:,} profiles, {events:,} events)",
              flush=True)  # fmt: skip
        path.unlink(missing_ok=True)
        seconds = generate(path, profiles, events)
        print(f"data:      generated in {seconds:.0f} s, {path.stat().st_size / 1e9:.2f} GB")
    materialize(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--regenerate", action="store_true", help="ignore a cached file")
    args = parser.parse_args()
    ensure(args.profiles, args.events, args.data_dir, args.regenerate)


if __name__ == "__main__":
    main()
