"""Resident memory of ``shoal serve`` after one million events (target: < 300 MB).

Starts the real ``shoal serve`` (``python -m shoal serve``) on a fresh data dir, posts one
million realistic track events through ``/v1/batch`` (batches of 500, 4 connections),
polls ``/api/v1/status`` until ``queue.lag == 0`` and ``store.events == 1,000,000``, and
reads VmRSS and VmHWM (peak RSS) from ``/proc/PID/status``. The baseline, in the same
run, is the RSS of the same idle process right after start-up.

RSS is sampled every 0.25 s throughout; the final VmRSS is the median of samples taken
over 2 s once everything is stored. One repetition is one million events (about 1.5-2
minutes here); ``--reps`` runs more, each on a fresh server, and reports medians.

    .venv/bin/python bench/memory.py            # 1,000,000 events, ~2 minutes
    .venv/bin/python bench/memory.py --quick    # 200,000 events, ~30 seconds
    .venv/bin/python bench/memory.py --diagnose [--tracemalloc 1]

``--diagnose`` runs ``bench/serve_app.py`` instead (the same app and uvicorn setup plus
``GET /bench/memory``) and prints where the memory is after ingest and once stored:
glibc malloc (in use / free in arenas), DuckDB's buffer manager by tag, what
``malloc_trim(0)`` gives back, and with ``--tracemalloc N`` the top Python allocation
sites (tracemalloc slows the server and adds its own memory: use it only to attribute).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from common import (
    EventFactory,
    RssSampler,
    Server,
    detect_pinning,
    http_json,
    install_watchdog,
    median,
    print_header,
    proc_memory_kb,
    proc_threads,
    remove_dir,
    run_load,
    start_server,
    verdict,
    write_json_result,
)

TARGET_MB = 300
BATCH = 500


def mb(kb: float) -> float:
    return kb / 1024


@dataclass
class Rep:
    idle_rss_kb: int
    after_ingest_rss_kb: int
    final_rss_kb: int
    hwm_kb: int
    sampled_peak_kb: int
    ingest_s: float
    drain_s: float
    threads: int


def diagnose(server: Server, when: str, trim: bool = False) -> None:
    """Print the server's own memory breakdown (bench launcher only)."""
    code, report = http_json(
        server.port, "GET", "/bench/memory" + ("?trim=1" if trim else ""), token=None
    )
    if code != 200:
        print(f"  [diagnose] /bench/memory answered {code}")
        return
    r: dict[str, Any] = report
    proc, malloc, duck = r["proc_kb"], r["malloc"], r["duckdb"]
    print(f"  [diagnose] {when}:")
    if trim:
        before = r["before_trim"]
        print(f"    malloc_trim(0): VmRSS {mb(before['VmRSS']):.0f} -> {mb(proc['VmRSS']):.0f} MB")
    print(
        f"    VmRSS {mb(proc['VmRSS']):.0f} MB (anon {mb(proc['RssAnon']):.0f}, file "
        f"{mb(proc['RssFile']):.0f}), VmHWM {mb(proc['VmHWM']):.0f} MB, "
        f"{proc['Threads']} threads"
    )
    print(
        f"    glibc malloc: in use {malloc['in_use_bytes'] / 2**20:.0f} MB, free inside "
        f"arenas {malloc['free_in_arenas_bytes'] / 2**20:.0f} MB, arenas "
        f"{malloc['arena_bytes'] / 2**20:.0f} MB + mmap {malloc['mmap_bytes'] / 2**20:.0f} MB"
    )
    if duck:
        tags = ", ".join(
            f"{tag} {mem / 2**20:.1f}" for tag, (mem, _tmp) in duck["by_tag_bytes"].items()
        )
        print(f"    DuckDB buffer manager {duck['memory_usage']} of {duck['memory_limit']}: {tags}")
    print(f"    Python objects tracked by gc: {r['gc_objects']:,}")
    traced = r.get("tracemalloc")
    if traced:
        print(
            f"    tracemalloc: {traced['traced_bytes'] / 2**20:.1f} MB live Python allocations "
            f"(+{traced['overhead_bytes'] / 2**20:.0f} MB tracemalloc overhead); top sites:"
        )
        for site in traced["top"][:12]:
            print(f"      {site['bytes'] / 2**20:7.2f} MB {site['count']:>8,}  {site['where']}")
    print(f"    raw: {json.dumps(r)[:200]}...")


def one_rep(
    events: int,
    connections: int,
    no_pin: bool,
    drain_timeout: float,
    diagnosing: bool = False,
    tracemalloc_frames: int = 0,
) -> Rep:
    pinning = detect_pinning(no_pin)
    env = {"SHOAL_BENCH_TRACEMALLOC": str(tracemalloc_frames)} if tracemalloc_frames else None
    server = start_server(pinning, launcher=diagnosing, name="memory", extra_env=env)
    try:
        time.sleep(1.0)
        idle = proc_memory_kb(server.pid)["VmRSS"]
        factory = EventFactory()
        requests = events // BATCH
        with RssSampler(server.pid) as sampler:
            start = time.perf_counter()
            result = run_load(
                server.port,
                "/v1/batch",
                lambda: factory.batch_body(BATCH),
                events_per_body=BATCH,
                write_key=server.write_key,
                connections=connections,
                total_requests=requests,
            )
            ingest = time.perf_counter() - start
            if result.events != requests * BATCH:
                raise RuntimeError(
                    f"only {result.events} of {requests * BATCH} events acknowledged; "
                    f"errors: {result.error_samples}"
                )
            after_ingest = proc_memory_kb(server.pid)["VmRSS"]
            if diagnosing:
                diagnose(server, "right after the last batch was acknowledged")
            print(
                f"  ingested {result.events:,} events in {ingest:.1f} s "
                f"({result.events_per_s:,.0f} events/s acknowledged); RSS now "
                f"{mb(after_ingest):.0f} MB; waiting for the pipeline...",
                flush=True,
            )
            server.wait_drained(result.events, timeout=drain_timeout, poll=0.5)
            drain = time.perf_counter() - start
            finals = []
            for _ in range(9):
                finals.append(proc_memory_kb(server.pid)["VmRSS"])
                time.sleep(0.25)
        status = server.status()
        mem = proc_memory_kb(server.pid)
        threads = proc_threads(server.pid)
        if diagnosing:
            diagnose(server, "all stored, lag 0")
            diagnose(server, "all stored, after malloc_trim(0)", trim=True)
        if status["store"]["events"] != result.events or status["queue"]["lag"] != 0:
            raise RuntimeError(f"unexpected end state: {status}")
    finally:
        server.stop()
        remove_dir(server.data_dir.parent)
    return Rep(
        idle,
        after_ingest,
        int(median(finals)),
        mem["VmHWM"],
        sampler.peak_kb,
        ingest,
        drain,
        threads,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="RSS of shoal serve after 1M events")
    parser.add_argument("--quick", action="store_true", help="200k events, ~30 s")
    parser.add_argument("--events", type=int)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--diagnose", action="store_true", help="bench launcher + memory breakdown")
    parser.add_argument("--tracemalloc", type=int, default=0, help="frames (with --diagnose)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    events = args.events or (200_000 if args.quick else 1_000_000)
    events -= events % BATCH
    drain_timeout = (60 + events / 5_000) * (3 if args.tracemalloc else 1)
    install_watchdog(30 + args.reps * (drain_timeout + 40))
    pinning = detect_pinning(args.no_pin)
    pinning.pin_self_to_load_cpu()
    print_header(
        f"memory: RSS of shoal serve after {events:,} events through /v1/batch",
        pinning,
        [
            f"batches of {BATCH}, {args.connections} connections, {args.reps} rep(s); "
            + (
                "server = bench/serve_app.py (diagnose mode"
                + (f", tracemalloc {args.tracemalloc} frames)" if args.tracemalloc else ")")
                if args.diagnose
                else "server = python -m shoal serve, default settings"
            ),
            "RSS from /proc/PID/status (VmRSS, VmHWM) of the server process",
        ],
    )
    reps: list[Rep] = []
    for i in range(args.reps):
        print(f"rep {i + 1}/{args.reps}:", flush=True)
        rep = one_rep(
            events,
            args.connections,
            args.no_pin,
            drain_timeout,
            args.diagnose,
            args.tracemalloc if args.diagnose else 0,
        )
        reps.append(rep)
        print(
            f"  idle {mb(rep.idle_rss_kb):.0f} MB -> after ingest "
            f"{mb(rep.after_ingest_rss_kb):.0f} MB -> all stored (lag 0, {rep.drain_s:.0f} s "
            f"after start) VmRSS {mb(rep.final_rss_kb):.0f} MB, VmHWM {mb(rep.hwm_kb):.0f} MB "
            f"(sampled peak {mb(rep.sampled_peak_kb):.0f} MB), {rep.threads} threads",
            flush=True,
        )

    final = median([r.final_rss_kb for r in reps])
    hwm = median([r.hwm_kb for r in reps])
    idle = median([r.idle_rss_kb for r in reps])
    print()
    print(f"Results (medians over {len(reps)} rep(s) of {events:,} events):")
    print(f"  baseline: idle server right after start  VmRSS {mb(idle):7.1f} MB")
    print(f"  after all events stored (lag 0)          VmRSS {mb(final):7.1f} MB")
    print(f"  peak during the run                      VmHWM {mb(hwm):7.1f} MB")
    print(f"  growth over idle: {mb(final - idle):.1f} MB (ratio final/idle {final / idle:.2f})")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    ok_final = mb(final) < TARGET_MB
    ok_peak = mb(hwm) < TARGET_MB
    print(f"target VmRSS < {TARGET_MB} MB: {mb(final):.0f} MB -> {verdict(ok_final)}")
    print(f"        (peak VmHWM < {TARGET_MB} MB: {mb(hwm):.0f} MB -> {verdict(ok_peak)})")
    write_json_result(
        args.json,
        {
            "events": events,
            "reps": len(reps),
            "idle_rss_mb": round(mb(idle), 1),
            "final_rss_mb": round(mb(final), 1),
            "hwm_mb": round(mb(hwm), 1),
            "after_ingest_rss_mb": round(mb(median([r.after_ingest_rss_kb for r in reps])), 1),
            "ingest_s": round(median([r.ingest_s for r in reps]), 1),
            "drain_s": round(median([r.drain_s for r in reps]), 1),
            "met": {"final_rss": ok_final, "hwm": ok_peak},
        },
    )


if __name__ == "__main__":
    main()
