"""Pipeline events/s from the SQLite queue into DuckDB (target: >= 30,000 events/s).

Each repetition pre-fills a fresh SQLite queue with N envelopes exactly as the edge
publishes them for ``/v1/batch`` (``shoal.collect.intake.batch_records`` over batches of
500 realistic track events), then times ``shoal.pipeline.Pipeline`` (batch size 5,000,
default store settings) draining the queue until every event is stored and the lag is 0.

Baseline, in the same run: a raw DuckDB Appender insert of the same rows (every row of
the ``events`` table the pipeline produced in the first repetition, read back, appended in
chunks of 5,000, one statement each, into a table of identical column types in a fresh
DuckDB file: no dedupe, no staging, no normalizing). The ratio pipeline / baseline says
how far the pipeline is from what DuckDB alone can take. Also reported: how busy each
pipeline step was (wall time inside queue.consume, store.write, queue.ack as a share of
the drain time; steps overlap, since normalizing round N+1 runs while round N is
written, so the shares need not add up to 100%).

Also measured, in the same run: the pipeline as ``shoal serve`` wires it (``Runtime``,
with every stage it adds, e.g. tracking plans and identity resolution), draining the same
number of envelopes for a real source of a bootstrapped workspace (``--runtime-reps``;
it is reported next to the target figure, not instead of it).

Runs in this process, not pinned by default (``--pin-cpu N`` pins it to one CPU).
``--py-spy FILE`` records the drain of the first repetition with ``py-spy --native``
(raw collapsed stacks; summarize with ``profile_server.py --summarize FILE``), and
``--py-spy-runtime FILE`` the first Runtime-wired drain.

    .venv/bin/python bench/pipeline_throughput.py            # ~1.5 minutes
    .venv/bin/python bench/pipeline_throughput.py --quick    # ~30 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from common import (
    REPO,
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
from shoal.interpreter import tune_interpreter
from shoal.pipeline import EventHub, Pipeline
from shoal.pipeline.runner import GROUP
from shoal.queue import open_queue
from shoal.runtime import Runtime
from shoal.settings import Settings
from shoal.spec.timestamps import now_ms
from shoal.store import open_store

TARGET_EVENTS_PER_S = 30_000
CHUNK = 5000
SOURCE = SourceKey("src_bench", "ws_bench", "dev", True, None)
T = TypeVar("T")


def make_payloads(count: int, source: SourceKey = SOURCE) -> list[bytes]:
    """Queue records as the edge writes them for ``/v1/batch`` requests of 500 events."""
    factory = EventFactory()
    out: list[bytes] = []
    while len(out) < count:
        size = min(500, count - len(out))
        parsed = parse_batch(factory.batch_body(size))
        out.extend(p for _, p in batch_records(parsed, source, now_ms(), "127.0.0.1", False))
    return out


def stored_rows(db_path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    """The ``events`` table's DDL and every row in it, exactly as the pipeline stored them."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        columns = con.execute("DESCRIBE events").fetchall()
        ddl = "CREATE TABLE raw_events (" + ", ".join(f'"{c[0]}" {c[1]}' for c in columns) + ")"
        rows = con.execute("SELECT * FROM events ORDER BY id").fetchall()
    finally:
        con.close()
    return ddl, rows


def run_baseline(root: Path, ddl: str, rows: list[tuple[Any, ...]], settings: Settings) -> float:
    """Seconds to append ``rows`` into a fresh DuckDB file, one statement per chunk."""
    con = duckdb.connect(
        str(root / "baseline.duckdb"),
        config={
            "memory_limit": settings.store_memory_limit,
            "threads": str(settings.store_threads),
        },
    )
    try:
        con.execute(ddl)
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

    def wrap(
        self, name: str, fn: Callable[..., Awaitable[T]]
    ) -> Callable[..., Coroutine[Any, Any, T]]:
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
    cpu_s: float
    """CPU time of this process (all threads, DuckDB's included) during the drain."""

    @property
    def events_per_s(self) -> float:
        return self.events / self.drain_s

    @property
    def baseline_per_s(self) -> float:
        return self.events / self.baseline_s


def start_py_spy(out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording this very process until it is sent SIGINT."""
    exe = REPO / ".venv" / "bin" / "py-spy"
    cmd = [str(exe) if exe.exists() else "py-spy", "record", "--pid", str(os.getpid())]
    cmd += ["--native", "--rate", "100", "--format", "raw", "-o", str(out)]
    proc = subprocess.Popen(cmd)
    time.sleep(1.5)  # let it attach before the timed part starts
    return proc


async def run_pipeline(
    root: Path, payloads: list[bytes], settings: Settings, profile: Path | None = None
) -> Rep:
    queue = open_queue(f"sqlite:///{root / 'queue.db'}", synchronous=settings.queue_sync)
    store = open_store(
        f"duckdb:///{root / 'events.duckdb'}",
        memory_limit=settings.store_memory_limit,
        threads=settings.store_threads,
        checkpoint_threshold=settings.store_checkpoint_threshold,
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
        spy = start_py_spy(profile) if profile is not None else None
        start = time.perf_counter()
        cpu0 = time.process_time()
        task = asyncio.create_task(pipeline.run())
        while pipeline.stats.stored + pipeline.stats.duplicates < len(payloads):
            if task.done():
                task.result()
                raise RuntimeError("pipeline stopped early")
            await asyncio.sleep(0.005)
        drain = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        await pipeline.stop()
        await task
        lag = await queue.lag(GROUP)
        stored = await store.count()
        if lag != 0 or stored != len(payloads) or pipeline.stats.failures:
            raise RuntimeError(f"not drained: lag={lag} stored={stored} {pipeline.stats}")
        return Rep(len(payloads), prefill, drain, 0.0, timer.totals, pipeline.stats.rounds, cpu)
    finally:
        await store.close()
        await queue.close()


async def run_runtime(
    root: Path, count: int, profile: Path | None = None
) -> tuple[float, float, list[str]]:
    """Drain ``count`` envelopes with the pipeline a ``Runtime`` builds (all its stages).

    The workspace and a source are created first through the control plane, the queue is
    filled while nothing consumes it, then the runtime starts and its pipeline drains it.
    Returns (drain seconds, CPU seconds, names of the pipeline's stages).
    """
    settings = Settings(data_dir=root / "data")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    setup = Runtime(settings)
    await asyncio.to_thread(setup.control.migrate)
    created = await asyncio.to_thread(setup.control.bootstrap, None)
    assert created is not None
    workspace = created[0]
    src = await asyncio.to_thread(
        setup.control.create_source, workspace.id, "bench", "server", "dev"
    )
    await asyncio.to_thread(setup.control.close)
    payloads = make_payloads(count, SourceKey(src.id, workspace.id, "dev", True, None))
    queue = open_queue(settings.resolved_queue_url(), synchronous=settings.queue_sync)
    await queue.start()
    for i in range(0, len(payloads), 500):
        await queue.publish([("", p) for p in payloads[i : i + 500]])
    await queue.close()
    del payloads

    runtime = Runtime(settings)
    stages = [type(stage).__name__ for stage in runtime.pipeline.stages]
    await runtime.start()
    spy = start_py_spy(profile) if profile is not None else None
    try:
        start = time.perf_counter()
        cpu0 = time.process_time()
        stats = runtime.pipeline.stats
        while stats.stored + stats.duplicates < count:
            if stats.failures:
                raise RuntimeError(f"pipeline failed: {stats.last_error}")
            await asyncio.sleep(0.005)
        drain = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        lag = await runtime.queue.lag(GROUP)
        if lag != 0:
            raise RuntimeError(f"lag {lag} after every event was counted")
    finally:
        await runtime.stop()
    return drain, cpu, stages


def main() -> None:
    tune_interpreter()  # the pipeline runs with shoal serve's interpreter settings
    parser = argparse.ArgumentParser(description="pipeline queue -> DuckDB throughput")
    parser.add_argument("--quick", action="store_true", help="~30 s instead of ~1.5 min")
    parser.add_argument("--events", type=int, help="envelopes pre-filled per repetition")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--pin-cpu", type=int, help="pin this whole process to one CPU")
    parser.add_argument(
        "--runtime-reps", type=int, default=1, help="reps of the Runtime-wired pipeline (0: skip)"
    )
    parser.add_argument("--py-spy", type=Path, help="profile rep 1's drain into this file")
    parser.add_argument(
        "--py-spy-runtime", type=Path, help="profile the first Runtime-wired drain into this file"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="CPython's thread switch interval in seconds instead of shoal serve's (0.005 "
        "is CPython's default; with SHOAL_STORE_CHECKPOINT_THRESHOLD=16MB, the baseline of "
        "docs/benchmarks.md's fifth round)",
    )
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    count = args.events or (50_000 if args.quick else 200_000)
    reps = args.reps or (2 if args.quick else 3)
    install_watchdog(60 + (reps + 3 * args.runtime_reps) * (count / 4_000 + 10))
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
            "baseline: DuckDB Appender of the same rows (the events table of rep 1, read "
            "back), 5,000 per statement, identical column types, fresh file",
        ],
    )
    t0 = time.perf_counter()
    payloads = make_payloads(count)
    mean_size = sum(map(len, payloads)) / len(payloads)
    print(
        f"generated {count:,} envelopes (mean {mean_size:.0f} bytes) in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    results: list[Rep] = []
    baseline: tuple[str, list[tuple[Any, ...]]] | None = None
    for rep in range(reps):
        root = temp_dir("pipeline")
        try:
            profile = args.py_spy if rep == 0 else None
            result = asyncio.run(run_pipeline(root, payloads, settings, profile))
            if baseline is None:
                baseline = stored_rows(root / "events.duckdb")
            result.baseline_s = run_baseline(root, *baseline, settings)
        finally:
            remove_dir(root)
        results.append(result)
        shares = ", ".join(f"{k} {v / result.drain_s:.0%}" for k, v in result.stages.items())
        print(
            f"rep {rep + 1}/{reps}: pipeline {result.events_per_s:>8,.0f} events/s "
            f"({result.drain_s:.2f} s, {result.rounds} rounds, CPU "
            f"{result.cpu_s / result.drain_s:.2f} cores, "
            f"{result.cpu_s / result.events * 1e6:.0f} us/event; busy: {shares})  baseline "
            f"{result.baseline_per_s:>9,.0f} events/s  (prefill {result.prefill_s:.1f} s)",
            flush=True,
        )

    runtime_runs: list[tuple[float, float]] = []
    stages: list[str] = []
    for rep in range(args.runtime_reps):
        root = temp_dir("pipeline-runtime")
        try:
            profile = args.py_spy_runtime if rep == 0 else None
            drain, cpu, stages = asyncio.run(run_runtime(root, count, profile))
        finally:
            remove_dir(root)
        runtime_runs.append((drain, cpu))
        print(
            f"runtime rep {rep + 1}/{args.runtime_reps}: pipeline with the server's stages "
            f"{stages}: {count / drain:>8,.0f} events/s ({drain:.2f} s, "
            f"{cpu / count * 1e6:.0f} us/event)",
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
    cpu_us = median([r.cpu_s / r.events * 1e6 for r in results])
    cores = median([r.cpu_s / r.drain_s for r in results])
    print(f"  pipeline CPU: {cpu_us:.0f} us per event, {cores:.2f} cores busy on average")
    print(f"  baseline appender   {base:>9,.0f} events/s")
    print(f"  ratio pipeline / baseline: {eps / base:.3f}")
    print(
        "  busy share of the drain time (steps overlap): "
        + ", ".join(f"{k} {v:.0%}" for k, v in stage_share.items())
    )
    runtime_eps = median([count / d for d, _ in runtime_runs]) if runtime_runs else None
    if runtime_eps is not None:
        print(
            f"  as the server wires it (Runtime, stages {stages}): {runtime_eps:,.0f} events/s "
            f"({runtime_eps / eps:.2f} x the bare pipeline)"
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
            "cpu_us_per_event": round(cpu_us, 1),
            "cores": round(cores, 2),
            "busy_share": stage_share,
            "runtime_events_per_s": round(runtime_eps) if runtime_eps is not None else None,
            "runtime_stages": stages,
            "all_reps_events_per_s": [round(r.events_per_s) for r in results],
            "met": ok,
        },
    )


if __name__ == "__main__":
    main()
