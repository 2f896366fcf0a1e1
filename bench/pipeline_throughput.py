"""Pipeline events/s from the SQLite queue into DuckDB (target: >= 30,000 events/s).

Each repetition pre-fills a fresh SQLite queue with N envelopes exactly as the edge
publishes them for ``/v1/batch`` (``shoal.collect.intake.batch_records`` over batches of
500 realistic track events), then times ``shoal.pipeline.Pipeline`` (batch size 5,000,
default store settings) draining the queue until every event is stored and the lag is 0.

Baseline, in the same run: a raw DuckDB Appender insert of the same rows (the 18 columns
the store writes, already built, in chunks of 5,000, one commit per chunk) into a fresh
DuckDB file. The ratio pipeline / baseline says how far the pipeline is from what DuckDB
alone can take. Also reported: where the pipeline's time goes (queue consume, store
write, ack, and the rest: decoding and normalizing).

Runs in this process, not pinned by default (``--pin-cpu N`` pins it to one CPU).

    .venv/bin/python bench/pipeline_throughput.py            # ~1.5 minutes
    .venv/bin/python bench/pipeline_throughput.py --quick    # ~30 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import msgspec

from common import (
    EventFactory,
    install_watchdog,
    median,
    print_header,
    remove_dir,
    temp_dir,
    verdict,
    write_json_result,
)
from shoal.collect.intake import batch_records, parse_batch
from shoal.collect.keys import SourceKey
from shoal.pipeline import EventHub, Pipeline
from shoal.pipeline.runner import GROUP
from shoal.queue import open_queue
from shoal.settings import Settings
from shoal.spec.envelope import ENVELOPE_DECODER
from shoal.spec.normalize import NormalizedEvent, normalize
from shoal.spec.timestamps import now_ms
from shoal.store import open_store

TARGET_EVENTS_PER_S = 30_000
CHUNK = 5000
SOURCE = SourceKey("src_bench", "ws_bench", "dev", True, None)
_ENCODE = msgspec.json.Encoder().encode
_SPLIT_KEYS = ("properties", "traits", "context")
_RAW_TABLE = """
CREATE TABLE raw_events (
    id BIGINT, workspace_id VARCHAR, source_id VARCHAR, environment VARCHAR,
    message_id VARCHAR, type VARCHAR, event VARCHAR, user_id VARCHAR, anonymous_id VARCHAR,
    group_id VARCHAR, timestamp BIGINT, received_at BIGINT, status VARCHAR, reason VARCHAR,
    properties VARCHAR, traits VARCHAR, context VARCHAR, extra VARCHAR
)
"""
T = TypeVar("T")


def make_payloads(count: int) -> list[bytes]:
    """Queue records as the edge writes them for ``/v1/batch`` requests of 500 events."""
    factory = EventFactory()
    out: list[bytes] = []
    while len(out) < count:
        size = min(500, count - len(out))
        parsed = parse_batch(factory.batch_body(size))
        out.extend(p for _, p in batch_records(parsed, SOURCE, now_ms(), "127.0.0.1", False))
    return out


def store_row(event_id: int, ev: NormalizedEvent) -> tuple[Any, ...]:
    """The row the DuckDB store appends for one event (same columns and encoding)."""
    msg = ev.message
    extra = {k: v for k, v in msg.items() if k not in _SPLIT_KEYS}

    def js(value: object) -> str | None:
        return None if value is None else _ENCODE(value).decode()

    return (
        event_id,
        ev.workspace_id,
        ev.source_id,
        ev.environment,
        ev.message_id,
        ev.type,
        ev.event,
        ev.user_id,
        ev.anonymous_id,
        ev.group_id,
        ev.timestamp,
        ev.received_at,
        ev.status,
        ev.reason,
        js(msg.get("properties")),
        js(msg.get("traits")),
        js(msg.get("context")),
        _ENCODE(extra).decode(),
    )


def baseline_rows(payloads: list[bytes]) -> list[tuple[Any, ...]]:
    return [store_row(i + 1, normalize(ENVELOPE_DECODER.decode(p))) for i, p in enumerate(payloads)]


def run_baseline(root: Path, rows: list[tuple[Any, ...]], settings: Settings) -> float:
    """Seconds to append ``rows`` into a fresh DuckDB file, committed per chunk."""
    con = duckdb.connect(
        str(root / "baseline.duckdb"),
        config={
            "memory_limit": settings.store_memory_limit,
            "threads": str(settings.store_threads),
        },
    )
    try:
        con.execute(_RAW_TABLE)
        start = time.perf_counter()
        appender = con.appender("raw_events")
        for i in range(0, len(rows), CHUNK):
            appender.append_rows(rows[i : i + CHUNK])
            appender.flush()  # one statement, auto-committed, per chunk
        elapsed = time.perf_counter() - start
        stored = con.execute("SELECT count(*) FROM raw_events").fetchone()
        assert stored is not None and stored[0] == len(rows), stored
    finally:
        con.close()
    return elapsed


@dataclass
class StageTimer:
    """Wall time spent inside wrapped coroutine methods, by name."""

    totals: dict[str, float] = field(default_factory=dict)

    def wrap(self, name: str, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def timed(*args: Any, **kwargs: Any) -> T:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start

        return timed


@dataclass
class Rep:
    events: int
    prefill_s: float
    drain_s: float
    baseline_s: float
    stages: dict[str, float]
    rounds: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.drain_s

    @property
    def baseline_per_s(self) -> float:
        return self.events / self.baseline_s


async def run_pipeline(root: Path, payloads: list[bytes], settings: Settings) -> Rep:
    queue = open_queue(f"sqlite:///{root / 'queue.db'}", synchronous=settings.queue_sync)
    store = open_store(
        f"duckdb:///{root / 'events.duckdb'}",
        memory_limit=settings.store_memory_limit,
        threads=settings.store_threads,
    )
    await queue.start()
    await store.start()
    try:
        start = time.perf_counter()
        for i in range(0, len(payloads), 500):
            await queue.publish([("", p) for p in payloads[i : i + 500]])
        prefill = time.perf_counter() - start
        assert await queue.lag(GROUP) == len(payloads)

        timer = StageTimer()
        queue.consume = timer.wrap("queue.consume", queue.consume)  # type: ignore[method-assign]
        queue.ack = timer.wrap("queue.ack", queue.ack)  # type: ignore[method-assign]
        store.write = timer.wrap("store.write", store.write)  # type: ignore[method-assign]
        pipeline = Pipeline(
            queue,
            store,
            EventHub(),
            batch_size=settings.pipeline_batch_size,
            dedupe_window_hours=settings.dedupe_window_hours,
        )
        start = time.perf_counter()
        task = asyncio.create_task(pipeline.run())
        while pipeline.stats.stored + pipeline.stats.duplicates < len(payloads):
            if task.done():
                task.result()
                raise RuntimeError("pipeline stopped early")
            await asyncio.sleep(0.005)
        drain = time.perf_counter() - start
        await pipeline.stop()
        await task
        lag = await queue.lag(GROUP)
        stored = await store.count()
        if lag != 0 or stored != len(payloads) or pipeline.stats.failures:
            raise RuntimeError(f"not drained: lag={lag} stored={stored} {pipeline.stats}")
        rest = drain - sum(timer.totals.values())
        stages = {**timer.totals, "decode+normalize (rest)": rest}
        return Rep(len(payloads), prefill, drain, 0.0, stages, pipeline.stats.rounds)
    finally:
        await store.close()
        await queue.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="pipeline queue -> DuckDB throughput")
    parser.add_argument("--quick", action="store_true", help="~30 s instead of ~1.5 min")
    parser.add_argument("--events", type=int, help="envelopes pre-filled per repetition")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--pin-cpu", type=int, help="pin this whole process to one CPU")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 200_000)
    reps = args.reps or (2 if args.quick else 3)
    install_watchdog(60 + reps * (count / 4_000 + 10) + count / 20_000)
    if args.pin_cpu is not None:
        os.sched_setaffinity(0, {args.pin_cpu})
    settings = Settings(data_dir=Path("unused"))
    pin = f"pinned to CPU {args.pin_cpu}" if args.pin_cpu is not None else "not pinned"
    print_header(
        "pipeline_throughput: SQLite queue -> Pipeline -> DuckDB, events/s",
        None,
        [
            f"{count:,} envelopes per rep (as /v1/batch publishes them), {reps} reps, fresh "
            f"queue and store each; batch_size={settings.pipeline_batch_size}, DuckDB "
            f"memory_limit={settings.store_memory_limit} threads={settings.store_threads}",
            f"process {pin}; CPUs available: {sorted(os.sched_getaffinity(0))}",
            "baseline: DuckDB Appender of the same 18-column rows (pre-built), 5,000 per "
            "commit, fresh file",
        ],
    )
    t0 = time.perf_counter()
    payloads = make_payloads(count)
    rows = baseline_rows(payloads)
    mean_size = sum(map(len, payloads)) / len(payloads)
    print(
        f"generated {count:,} envelopes (mean {mean_size:.0f} bytes) and the baseline rows "
        f"in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    results: list[Rep] = []
    for rep in range(reps):
        root = temp_dir("pipeline")
        try:
            result = asyncio.run(run_pipeline(root, payloads, settings))
            result.baseline_s = run_baseline(root, rows, settings)
        finally:
            remove_dir(root)
        results.append(result)
        shares = ", ".join(
            f"{k} {v / result.drain_s:.0%}" for k, v in sorted(result.stages.items())
        )
        print(
            f"rep {rep + 1}/{reps}: pipeline {result.events_per_s:>8,.0f} events/s "
            f"({result.drain_s:.2f} s, {result.rounds} rounds; {shares})  baseline "
            f"{result.baseline_per_s:>9,.0f} events/s  (prefill {result.prefill_s:.1f} s)",
            flush=True,
        )

    eps = median([r.events_per_s for r in results])
    base = median([r.baseline_per_s for r in results])
    stage_share = {
        k: round(median([r.stages[k] / r.drain_s for r in results]), 3) for k in results[0].stages
    }
    print()
    print(f"Results (medians over {reps} reps of {count:,} events):")
    print(f"  pipeline            {eps:>9,.0f} events/s  (queue -> normalize -> DuckDB, lag 0)")
    print(f"  baseline appender   {base:>9,.0f} events/s")
    print(f"  ratio pipeline / baseline: {eps / base:.3f}")
    print(
        "  pipeline time by stage: "
        + ", ".join(f"{k} {v:.0%}" for k, v in sorted(stage_share.items()))
    )
    print(f"  load average after: {os.getloadavg()[0]:.2f} (other work on the machine skews rates)")
    ok = eps >= TARGET_EVENTS_PER_S
    print(f"target >= {TARGET_EVENTS_PER_S:,} events/s: {eps:,.0f} -> {verdict(ok)}")
    write_json_result(
        args.json,
        {
            "events": count,
            "reps": reps,
            "events_per_s": round(eps),
            "baseline_events_per_s": round(base),
            "ratio": round(eps / base, 4),
            "stage_share": stage_share,
            "all_reps_events_per_s": [round(r.events_per_s) for r in results],
            "met": ok,
        },
    )


if __name__ == "__main__":
    main()
