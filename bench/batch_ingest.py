"""Events per second acknowledged through ``POST /v1/batch`` (target: >= 50,000 events/s).

Several keep-alive connections post realistic track events (each with its own messageId)
in batches of 100 and of 500; only ``200 {"success":true}`` answers count, i.e. events
that are durably in the queue. The pipeline runs in the same server, as in production,
moving the events into DuckDB meanwhile.

Baseline, in the same run and the same server process: the same bodies posted to
``/bench/drain`` (reads the body and answers, nothing else; see ``serve_app.py``), which is
the ceiling of the HTTP stack for such bodies. It is measured first, while the pipeline
is idle; the Shoal runs come after and include the pipeline's concurrent work. Reported:
medians over the repetitions and the ratio Shoal / baseline.

    .venv/bin/python bench/batch_ingest.py            # ~2.5 minutes
    .venv/bin/python bench/batch_ingest.py --quick    # ~30 seconds
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from common import (
    EventFactory,
    LoadResult,
    Server,
    detect_pinning,
    install_watchdog,
    median,
    percentile,
    print_header,
    proc_cpu_seconds,
    run_load,
    start_server,
    verdict,
    write_json_result,
)

TARGET_EVENTS_PER_S = 50_000


@dataclass
class Measured:
    result: LoadResult
    server_cpu: float
    """Server CPU seconds per wall second (1.0 = one core busy)."""
    client_cpu: float
    cpu_us_per_event: float
    """Server CPU time per acknowledged event: robust to other load on the machine."""


def measure(
    server: Server,
    factory: EventFactory,
    path: str,
    batch: int,
    connections: int,
    duration: float,
) -> Measured:
    cpu0 = proc_cpu_seconds(server.pid)
    own0 = time.process_time()
    wall0 = time.perf_counter()
    result = run_load(
        server.port,
        path,
        lambda: factory.batch_body(batch),
        events_per_body=batch,
        write_key=server.write_key,
        connections=connections,
        duration=duration,
    )
    wall = time.perf_counter() - wall0
    cpu_seconds = proc_cpu_seconds(server.pid) - cpu0
    return Measured(
        result,
        cpu_seconds / wall,
        (time.process_time() - own0) / wall,
        cpu_seconds / max(result.events, 1) * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="/v1/batch ingest throughput")
    parser.add_argument("--quick", action="store_true", help="~30 s instead of ~2.5 min")
    parser.add_argument("--reps", type=int, help="repetitions per configuration")
    parser.add_argument("--duration", type=float, help="seconds per Shoal repetition")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch-sizes", default="100,500")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--pause-pipeline",
        action="store_true",
        help="diagnostic: stop the server's pipeline, measure the HTTP edge alone",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    reps = args.reps or (2 if args.quick else 5)
    duration = args.duration or (3.0 if args.quick else 8.0)
    base_duration = max(1.5, duration / 2)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    rounds = len(sizes) * (duration + (0 if args.no_baseline else base_duration))
    install_watchdog(60 + reps * rounds * 1.5 + 4 * len(sizes) + 60)

    pinning = detect_pinning(args.no_pin)
    pinning.pin_self_to_load_cpu()
    factory = EventFactory()
    lo, hi, mean = factory.sizes()
    print_header(
        "batch_ingest: events/s acknowledged by POST /v1/batch",
        pinning,
        [
            f"events: realistic track events, {lo}-{hi} bytes (mean {mean:.0f}), unique messageIds",
            f"{args.connections} keep-alive connections, {reps} reps x {duration:g} s per "
            f"batch size, baseline /bench/drain {base_duration:g} s per rep (measured "
            "first, pipeline idle)",
            "server: bench/serve_app.py (shoal serve's app + uvicorn config, plus /bench "
            "no-op routes), pipeline running in the same process",
        ],
    )
    env = {"SHOAL_BENCH_PAUSE_PIPELINE": "1"} if args.pause_pipeline else None
    if args.pause_pipeline:
        print("note:      DIAGNOSTIC: pipeline paused; events stay queued (not the target run)")
    server = start_server(pinning, launcher=True, name="batch", extra_env=env)
    try:
        shoal: dict[int, list[Measured]] = {s: [] for s in sizes}
        base: dict[int, list[Measured]] = {s: [] for s in sizes}
        if not args.no_baseline:
            # First, while the pipeline is idle: the HTTP stack's ceiling for these bodies.
            for size in sizes:
                measure(server, factory, "/bench/drain", size, args.connections, 1.0)
            for rep in range(reps):
                for size in sizes:
                    b = measure(
                        server, factory, "/bench/drain", size, args.connections, base_duration
                    )
                    base[size].append(b)
                    print(
                        f"baseline rep {rep + 1}/{reps} batch={size:>4}: "
                        f"{b.result.events_per_s:>9,.0f} events/s "
                        f"({b.cpu_us_per_event:.1f} us/event)",
                        flush=True,
                    )
        # Warm-up: imports, caches, first DuckDB and SQLite pages.
        for size in sizes:
            measure(server, factory, "/v1/batch", size, args.connections, 2.0)
        for rep in range(reps):
            for size in sizes:
                m = measure(server, factory, "/v1/batch", size, args.connections, duration)
                shoal[size].append(m)
                print(
                    f"rep {rep + 1}/{reps} batch={size:>4}: {m.result.events_per_s:>9,.0f} "
                    f"events/s ({m.result.requests_per_s:,.0f} req/s, "
                    f"p50 {percentile(m.result.latencies, 50) * 1e3:.1f} ms, "
                    f"p99 {percentile(m.result.latencies, 99) * 1e3:.1f} ms, "
                    f"errors {m.result.errors}, server CPU {m.server_cpu:.2f}, "
                    f"{m.cpu_us_per_event:.1f} us/event, client CPU {m.client_cpu:.2f})",
                    flush=True,
                )
                for sample in m.result.error_samples:
                    print(f"    error: {sample}")
        status = server.status()
    finally:
        server.stop()

    print()
    print("Results (medians over repetitions):")
    figures: dict[str, object] = {"reps": reps, "duration_s": duration}
    best = 0.0
    for size in sizes:
        eps = median([m.result.events_per_s for m in shoal[size]])
        rps = median([m.result.requests_per_s for m in shoal[size]])
        p50 = median([percentile(m.result.latencies, 50) for m in shoal[size]]) * 1e3
        p99 = median([percentile(m.result.latencies, 99) for m in shoal[size]]) * 1e3
        errors = sum(m.result.errors for m in shoal[size])
        cpu = median([m.server_cpu for m in shoal[size]])
        us_per_event = median([m.cpu_us_per_event for m in shoal[size]])
        best = max(best, eps)
        row: dict[str, object] = {
            "events_per_s": round(eps),
            "requests_per_s": round(rps),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "errors": errors,
            "server_cpu": round(cpu, 2),
            "cpu_us_per_event": round(us_per_event, 2),
            "all_reps_events_per_s": [round(m.result.events_per_s) for m in shoal[size]],
        }
        text = (
            f"  batch of {size:>4}: {eps:>9,.0f} events/s  ({rps:,.0f} req/s, request p50 "
            f"{p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}, server CPU {cpu:.2f} cores, "
            f"{us_per_event:.1f} us/event)"
        )
        if not args.no_baseline:
            beps = median([b.result.events_per_s for b in base[size]])
            row["baseline_events_per_s"] = round(beps)
            row["ratio"] = round(eps / beps, 3)
            text += f"\n{'':18}baseline /bench/drain {beps:,.0f} events/s -> ratio {eps / beps:.2f}"
        figures[f"batch_{size}"] = row
        print(text)
    print(
        f"  pipeline at the end: queue lag {status['queue']['lag']:,}, stored "
        f"{status['store']['events']:,} (it runs concurrently and catches up afterwards)"
    )
    print(f"  load average after: {os.getloadavg()[0]:.2f} (other work on the machine skews rates)")
    ok = best >= TARGET_EVENTS_PER_S
    figures["target"] = TARGET_EVENTS_PER_S
    figures["met"] = ok
    print(
        f"target >= {TARGET_EVENTS_PER_S:,} events/s (best batch size): {best:,.0f} "
        f"-> {verdict(ok)}"
    )
    write_json_result(args.json, figures)


if __name__ == "__main__":
    main()
