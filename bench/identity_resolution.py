"""Identity resolution throughput of the pipeline's identity stage (target: >= 50,000 events/s).

A realistic mix over a population of people who each browse on the web and in an app:
70% anonymous browsing (pages and tracks with only an anonymousId; a third from visitors
never seen again), 20% tracks of signed-in users (userId + anonymousId), 7% identifies
with traits (email, plan), 3% cross-device identifies from the app (app anonymousId + iOS
device id + userId), which merge the app's anonymous profile into the person's.

Each repetition resolves N events in rounds of 5,000 (the pipeline's batch size) through
``IdentityStage.process`` on a fresh DuckDB file, driven as the pipeline drives it: round
N+1 is resolved while round N's write commits, and the run ends when the last write has
committed. Per round: identifier extraction, cache and bit filter, the one lookup query
for misses, in-memory resolution, and the bulk transaction (mappings, profile rows,
merges, timeline rows; rounds that queue behind a running write share its commit). The
first rounds warm the caches the way a running server has them; every round is timed.
The process runs with ``shoal serve``'s garbage-collector settings.

    .venv/bin/python bench/identity_resolution.py            # ~2 minutes
    .venv/bin/python bench/identity_resolution.py --quick    # ~30 seconds
    .venv/bin/python bench/identity_resolution.py --baseline # each run beside one on
                                                             # CPython's and DuckDB's defaults
    .venv/bin/python bench/identity_resolution.py --phases   # and each phase's cost, serially
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import install_watchdog, median, print_header, temp_dir, verdict, write_json_result
from shoal.control import ControlPlane
from shoal.identity import IdentityService
from shoal.interpreter import tune_interpreter
from shoal.spec.normalize import NormalizedEvent
from shoal.store.duckdb import CHECKPOINT_THRESHOLD, DuckDBStore

TARGET = 50_000
ROUND = 5000
T0 = 1_700_000_000_000


class Mix:
    """Generates the event mix above, deterministic for a seed."""

    def __init__(self, people: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.people = people
        self.count = 0

    def _event(self, kind: str, fields: dict[str, Any]) -> NormalizedEvent:
        self.count += 1
        ts = T0 + self.count * 10
        mid = f"bench-{self.count}"
        context = fields.pop("context", {})
        context.setdefault("library", {"name": "analytics.js", "version": "2.11.1"})
        message = {"type": kind, "messageId": mid, "context": context, **fields}
        return NormalizedEvent(
            source_id="src_web", workspace_id="ws_bench", environment="dev", message_id=mid,
            type=kind, status="accepted", reason=None, received_at=ts, timestamp=ts,
            message=message, event=fields.get("event") or fields.get("name"),
            user_id=fields.get("userId"), anonymous_id=fields.get("anonymousId"),
        )  # fmt: skip

    def next(self) -> NormalizedEvent:
        rng = self.rng
        person = rng.randrange(self.people)
        roll = rng.random()
        page = {"path": f"/p/{rng.randrange(50)}", "url": "https://shop.example/p"}
        if roll < 0.70:
            anon = f"anon-{person}" if rng.random() < 2 / 3 else f"visitor-{self.count}"
            if rng.random() < 0.6:
                return self._event(
                    "page", {"anonymousId": anon, "name": "Product", "context": {"page": page}}
                )
            return self._event(
                "track",
                {"anonymousId": anon, "event": "Product Viewed",
                 "properties": {"product_id": str(rng.randrange(1000)), "price": 19.5}},
            )  # fmt: skip
        if roll < 0.90:
            return self._event(
                "track",
                {"userId": f"user-{person}", "anonymousId": f"anon-{person}",
                 "event": "Order Completed", "properties": {"revenue": rng.randrange(5, 500)}},
            )  # fmt: skip
        if roll < 0.97:
            return self._event(
                "identify",
                {"userId": f"user-{person}", "anonymousId": f"anon-{person}",
                 "traits": {"email": f"p{person}@example.com",
                            "plan": rng.choice(["free", "pro"])}},
            )  # fmt: skip
        device = {"type": "ios", "id": f"dev-{person}"}
        return self._event(
            "identify",
            {"userId": f"user-{person}", "anonymousId": f"app-{person}",
             "traits": {"plan": "pro"}, "context": {"device": device}},
        )  # fmt: skip


Submit = Callable[[IdentityService, list[NormalizedEvent]], Awaitable[Awaitable[None] | None]]
"""Hands a round to the design under test; returns what completes once its write committed."""


async def _stage_process(service: IdentityService, batch: list[NormalizedEvent]) -> Any:
    return await service.stage.process(batch)


async def open_store(
    root: Path, checkpoint_threshold: str = CHECKPOINT_THRESHOLD
) -> tuple[ControlPlane, DuckDBStore, IdentityService]:
    """A fresh control plane, event store and identity service under ``root``."""
    control = ControlPlane(f"sqlite:///{root / 'control.db'}")
    control.migrate()
    store = DuckDBStore(root / "events.duckdb", checkpoint_threshold=checkpoint_threshold)
    await store.start()
    service = IdentityService(control, store)
    await service.store.start()  # no computed-trait updater: none are defined here
    return control, store, service


async def run_once(
    root: Path,
    events: int,
    people: int,
    checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
    submit: Submit = _stage_process,
) -> dict[str, Any]:
    """One timed run of ``events`` events through ``submit`` (the stage by default)."""
    control, store, service = await open_store(root, checkpoint_threshold)
    stage = service.stage
    mix = Mix(people)
    rounds = [[mix.next() for _ in range(ROUND)] for _ in range(events // ROUND)]
    # The pipeline holds one or two rounds of events, not the whole input: keep the input
    # out of the cyclic collector's scans, as it would not exist in a running server.
    gc.collect()
    gc.freeze()
    times: list[float] = []
    start = time.perf_counter()
    pending: Awaitable[None] | None = None
    for batch in rounds:
        # As the pipeline drives the stage: round N+1 is resolved while round N's write
        # commits, and round N counts as done once its write has committed.
        t = time.perf_counter()
        waiter = await submit(service, batch)
        if pending is not None:
            await pending
        pending = waiter
        times.append(time.perf_counter() - t)
    if pending is not None:
        await pending
    # Counted too: what the run left in the write-ahead log is written to the tables, so a
    # larger checkpoint threshold cannot look faster by deferring work past the end.
    await store.run_write(lambda con: con.execute("CHECKPOINT"))
    total = time.perf_counter() - start
    gc.unfreeze()
    profiles = await service.store.count_profiles("ws_bench:dev", "users")
    stats = dict(vars(stage.stats))
    await store.close()
    control.engine.dispose()
    return {
        "events": len(rounds) * ROUND,
        "seconds": total,
        "events_per_s": len(rounds) * ROUND / total,
        "round_ms_median": median(times) * 1000,
        "round_ms_max": max(times) * 1000,
        "profiles": profiles,
        "stats": stats,
    }


async def run_phases(root: Path, events: int, people: int) -> dict[str, float]:
    """The stage's phases for each round one after another, each timed: what a round costs
    without the overlap of resolution and writes (µs per event, per phase)."""
    control, store, service = await open_store(root)
    stage = service.stage
    mix = Mix(people)
    rounds = [[mix.next() for _ in range(ROUND)] for _ in range(events // ROUND)]
    gc.collect()
    gc.freeze()
    await stage.warm()
    spent = dict.fromkeys(("extract", "lookup", "resolve", "write"), 0.0)
    for batch in rounds:
        # The stage's own steps, in its order (IdentityStage._resolve_round and the writer).
        t0 = time.perf_counter()
        work = stage._extract(batch)
        t1 = time.perf_counter()
        await stage._prefetch(work)
        t2 = time.perf_counter()
        changes = stage._resolve(work)
        for mapping in changes.mappings:
            stage.filter.add(mapping.key)
        t3 = time.perf_counter()
        await stage.store.write(changes)
        t4 = time.perf_counter()
        for name, took in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[name] += took
    await store.run_write(lambda con: con.execute("CHECKPOINT"))
    gc.unfreeze()
    await store.close()
    control.engine.dispose()
    count = len(rounds) * ROUND
    return {name: took * 1e6 / count for name, took in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200k events, 1 repetition")
    parser.add_argument("--json", help="Write the results to this file.")
    parser.add_argument(
        "--phases",
        action="store_true",
        help="Also run the stage's phases one after another, without overlap, and print "
        "each one's cost per event (their sum is the stage's serial cost).",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="Alternate each run with one on CPython's and DuckDB's own defaults (5 ms "
        "switch interval, 16MB checkpoint threshold) and report the ratio.",
    )
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeat = 200_000, 1
    install_watchdog(900 * (2 if args.baseline else 1))
    tune_interpreter()  # shoal serve's interpreter settings
    print_header(
        "Identity resolution throughput (IdentityStage, rounds of 5,000)",
        None,
        [f"{args.events:,} events, {args.people:,} people, mix 70/20/7/3, fresh DuckDB file"],
    )
    results, baselines = [], []
    for rep in range(args.repeat):
        if args.baseline:
            sys.setswitchinterval(0.005)
            root = temp_dir(f"identity-baseline-{rep}")
            base = asyncio.run(run_once(root, args.events, args.people, "16MB"))
            baselines.append(base)
            _report(f"baseline {rep + 1}", base)
            tune_interpreter()
        root = temp_dir(f"identity-{rep}")
        result = asyncio.run(run_once(root, args.events, args.people))
        results.append(result)
        _report(f"run {rep + 1}", result)
    best = median([r["events_per_s"] for r in results])
    print(f"median: {best:,.0f} events/s  target >= {TARGET:,}: {verdict(best >= TARGET)}")
    out: dict[str, Any] = {"runs": results, "median_events_per_s": best}
    if args.phases:
        phases = asyncio.run(run_phases(temp_dir("identity-phases"), args.events, args.people))
        serial = sum(phases.values())
        print(
            "phases one after another, µs per event: "
            + ", ".join(f"{name} {us:.1f}" for name, us in phases.items())
            + f"; sum {serial:.1f} (= {1e6 / serial:,.0f} events/s without overlap)"
        )
        out["phases_us_per_event"] = phases
    if baselines:
        pairs = zip(results, baselines, strict=True)
        ratios = [r["events_per_s"] / b["events_per_s"] for r, b in pairs]
        print(
            f"baseline median: {median([b['events_per_s'] for b in baselines]):,.0f} events/s;"
            f" ratio per pair {', '.join(f'{r:.2f}' for r in ratios)}, median "
            f"{median(ratios):.2f}"
        )
        out |= {"baselines": baselines, "ratio_median": median(ratios)}
    write_json_result(args.json, out)


def _report(label: str, result: dict[str, Any]) -> None:
    print(
        f"{label}: {result['events_per_s']:,.0f} events/s  "
        f"({result['events']:,} events in {result['seconds']:.1f} s; round median "
        f"{result['round_ms_median']:.0f} ms, max {result['round_ms_max']:.0f} ms; "
        f"{result['profiles']:,} profiles, {result['stats']['merges']:,} merges, "
        f"{result['stats']['demoted']:,} demotions)",
        flush=True,
    )


if __name__ == "__main__":
    main()
