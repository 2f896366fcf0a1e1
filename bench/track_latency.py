"""``POST /v1/track`` requests/s and latency with wrk, against a no-op ceiling.

Targets: >= 5,000 requests/s, and >= 0.5 of the no-op ceiling measured in the same run.

wrk (``apt-get install -y wrk``) posts one realistic track event per request with Basic
auth (``bench/wrk_track.lua``; every request has its own messageId). The same wrk load is
pointed, in the same server process, at ``POST /bench/noop``: a route of the same app that
answers ``{"success":true}`` and does nothing else (``bench/serve_app.py``), so the ratio
track / noop is the share of the HTTP stack's ceiling that the collection endpoint keeps.
Repetitions alternate noop and track; before each one the pipeline is left to drain the
previous run's events so that runs do not inherit background work.

    .venv/bin/python bench/track_latency.py            # ~2 minutes
    .venv/bin/python bench/track_latency.py --quick    # ~30 seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from common import (
    BENCH_DIR,
    HOST,
    Pinning,
    Server,
    basic_auth,
    detect_pinning,
    install_watchdog,
    median,
    print_header,
    proc_cpu_seconds,
    start_server,
    verdict,
    write_json_result,
)

TARGET_RPS = 5_000
TARGET_RATIO = 0.5
LUA = BENCH_DIR / "wrk_track.lua"


@dataclass
class WrkRun:
    rps: float
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    server_cpu: float
    """Server CPU seconds per wall second during the run (1.0 = one core busy)."""
    cpu_us_per_request: float
    """Server CPU time per answered request: robust to other load on the machine."""


def wrk_command(pinning: Pinning, port: int, path: str, conns: int, seconds: float) -> list[str]:
    return [
        *pinning.load_prefix(),
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA.relative_to(Path.cwd()) if LUA.is_relative_to(Path.cwd()) else LUA),
        f"http://{HOST}:{port}{path}",
    ]


def run_wrk(
    server: Server, pinning: Pinning, path: str, conns: int, seconds: float
) -> tuple[WrkRun, str]:
    env = {
        **os.environ,
        "SHOAL_BENCH_AUTH": basic_auth(server.write_key),
        "SHOAL_BENCH_RUN": uuid.uuid4().hex[:12],
    }
    cmd = wrk_command(pinning, server.port, path, conns, seconds)
    cpu0 = proc_cpu_seconds(server.pid)
    wall0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30)
    wall = time.perf_counter() - wall0
    cpu_seconds = proc_cpu_seconds(server.pid) - cpu0
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    ok = data["requests"] - data["status"]
    run = WrkRun(
        rps=ok / (data["duration_us"] / 1e6),
        requests=data["requests"],
        errors=errors,
        p50_ms=data["p50"] / 1e3,
        p90_ms=data["p90"] / 1e3,
        p99_ms=data["p99"] / 1e3,
        server_cpu=cpu_seconds / wall,
        cpu_us_per_request=cpu_seconds / max(ok, 1) * 1e6,
    )
    return run, proc.stdout


def settle(server: Server, paused: bool = False, timeout: float = 30.0) -> None:
    """Let the pipeline finish the previous run's events (bounded)."""
    deadline = time.monotonic() + (0 if paused else timeout)
    while time.monotonic() < deadline:
        if server.status()["queue"]["lag"] == 0:
            break
        time.sleep(0.2)
    time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description="/v1/track requests/s and latency (wrk)")
    parser.add_argument("--quick", action="store_true", help="~30 s instead of ~2 min")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--show-wrk", action="store_true", help="print wrk's own report")
    parser.add_argument(
        "--pause-pipeline",
        action="store_true",
        help="diagnostic: stop the server's pipeline, measure the HTTP edge alone",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    reps = args.reps or (2 if args.quick else 5)
    seconds = args.duration or (4.0 if args.quick else 10.0)
    warm = 2.0 if args.quick else 3.0
    install_watchdog(60 + 2 * warm + reps * 2 * (seconds + 12))

    pinning = detect_pinning(args.no_pin)
    example = shlex.join(wrk_command(pinning, 0, "/v1/track", args.connections, seconds))
    print_header(
        "track_latency: POST /v1/track requests/s and latency (wrk) vs a no-op endpoint",
        pinning,
        [
            f"wrk -t1 -c{args.connections} -d{seconds:g}s --latency, {reps} reps each of "
            f"/bench/noop and /v1/track, alternating; warm-up {warm:g} s each",
            f"wrk command (port varies): SHOAL_BENCH_AUTH=... {example}",
            "server: bench/serve_app.py (shoal serve's app + uvicorn config, plus /bench "
            "no-op routes); the pipeline runs in the same process",
        ],
    )
    env = {"SHOAL_BENCH_PAUSE_PIPELINE": "1"} if args.pause_pipeline else None
    if args.pause_pipeline:
        print("note:      DIAGNOSTIC: pipeline paused; events stay queued (not the target run)")
    server = start_server(pinning, launcher=True, name="track", extra_env=env)
    runs: dict[str, list[WrkRun]] = {"/bench/noop": [], "/v1/track": []}
    try:
        for path in runs:
            run_wrk(server, pinning, path, args.connections, warm)
        for rep in range(reps):
            for path, bucket in runs.items():
                settle(server, args.pause_pipeline)
                run, report = run_wrk(server, pinning, path, args.connections, seconds)
                bucket.append(run)
                print(
                    f"rep {rep + 1}/{reps} {path:<11}: {run.rps:>8,.0f} req/s  p50 "
                    f"{run.p50_ms:6.2f} ms  p90 {run.p90_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms"
                    f"  errors {run.errors}  server CPU {run.server_cpu:.2f} "
                    f"({run.cpu_us_per_request:.0f} us/request)",
                    flush=True,
                )
                if args.show_wrk:
                    print(report)
        settle(server, args.pause_pipeline)
        status = server.status()
    finally:
        server.stop()

    def summary(path: str) -> dict[str, float]:
        rs = runs[path]
        return {
            "requests_per_s": round(median([r.rps for r in rs])),
            "p50_ms": round(median([r.p50_ms for r in rs]), 2),
            "p90_ms": round(median([r.p90_ms for r in rs]), 2),
            "p99_ms": round(median([r.p99_ms for r in rs]), 2),
            "errors": sum(r.errors for r in rs),
            "server_cpu": round(median([r.server_cpu for r in rs]), 2),
            "cpu_us_per_request": round(median([r.cpu_us_per_request for r in rs]), 1),
        }

    noop, track = summary("/bench/noop"), summary("/v1/track")
    ratio = track["requests_per_s"] / noop["requests_per_s"]
    print()
    print(f"Results (medians over {reps} reps, {args.connections} connections):")
    for name, s in (("no-op /bench/noop", noop), ("/v1/track", track)):
        print(
            f"  {name:<18} {s['requests_per_s']:>8,.0f} req/s  p50 {s['p50_ms']:.2f} ms  "
            f"p90 {s['p90_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  errors {s['errors']:.0f}  "
            f"server CPU {s['server_cpu']:.2f} cores, {s['cpu_us_per_request']:.0f} us/request"
        )
    cpu_ratio = noop["cpu_us_per_request"] / track["cpu_us_per_request"]
    print(f"  ratio track / noop: {ratio:.2f} (by server CPU per request: {cpu_ratio:.2f})")
    print(f"  load average after: {os.getloadavg()[0]:.2f} (other work on the machine skews req/s)")
    print(
        f"  stored after the run: {status['store']['events']:,} events, duplicates "
        f"{status['pipeline']['duplicates']:,}, rejected {status['pipeline']['rejected']:,}"
    )
    rps_ok = track["requests_per_s"] >= TARGET_RPS
    ratio_ok = ratio >= TARGET_RATIO
    print(f"target >= {TARGET_RPS:,} req/s: {track['requests_per_s']:,.0f} -> {verdict(rps_ok)}")
    print(f"target >= {TARGET_RATIO} of no-op: {ratio:.2f} -> {verdict(ratio_ok)}")
    write_json_result(
        args.json,
        {
            "noop": noop,
            "track": track,
            "ratio": round(ratio, 3),
            "cpu_ratio": round(cpu_ratio, 3),
            "connections": args.connections,
            "reps": reps,
            "duration_s": seconds,
            "all_reps_track_rps": [round(r.rps) for r in runs["/v1/track"]],
            "all_reps_noop_rps": [round(r.rps) for r in runs["/bench/noop"]],
            "met": {"rps": rps_ok, "ratio": ratio_ok},
        },
    )


if __name__ == "__main__":
    main()
