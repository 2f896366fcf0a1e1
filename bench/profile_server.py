"""Profile a Shoal server under a benchmark's load with py-spy, and print the hot spots.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_server.py --load track     # wrk on /v1/track
    .venv/bin/python bench/profile_server.py --load batch     # /v1/batch, 500 per request
    .venv/bin/python bench/profile_server.py --summarize FILE.txt   # an existing raw profile

The server is ``bench/serve_app.py`` pinned to CPU 0, the load is pinned to CPU 1 as in
``track_latency.py`` / ``batch_ingest.py``. ``py-spy record --format raw`` samples every
non-idle thread of the server for ``--duration`` seconds; the raw (collapsed) stacks are
kept in ``--out`` (flamegraph.pl input) and summarized here: the functions with the most
samples at the top of the stack (self) and on the stack (inclusive), each as a share of
all samples, plus the share of each part of the server (event loop / HTTP edge, queue
thread, pipeline normalizing, DuckDB writer). The pipeline benchmark profiles itself:
``pipeline_throughput.py --py-spy FILE``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from common import (
    BENCH_DIR,
    EventFactory,
    basic_auth,
    detect_pinning,
    install_watchdog,
    print_header,
    run_load,
    start_server,
)

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
PARTS = (
    ("queue thread (SQLite)", ("SQLiteQueue._run", "_run (shoal/queue/sqlite.py")),
    ("DuckDB store writer", ("shoal/store/duckdb.py",)),
    ("pipeline normalize", ("_prepare (shoal/pipeline/runner.py",)),
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        sys.exit("py-spy is needed: .venv/bin/pip install py-spy")
    return found


def short(frame: str) -> str:
    """``func (file:line)`` with site-packages and repository prefixes dropped."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    line = f":{match['line']}" if match["line"] else ""
    return f"{match['func']} ({path}{line})"


def function_key(frame: str) -> str:
    """The function without its line: samples of one function on several lines add up."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return short(f"{match['func']} ({match['file']})")


WAIT_MARKERS = (
    "PyThread_acquire_lock_timed",
    "pthread_cond_timedwait",
    "pthread_cond_wait",
    "take_gil",
    "epoll_pwait",
    "epoll_wait",
    "uv__io_poll",
    "sem_clockwait",
    "sem_timedwait",
    "sem_wait",
)
"""Native frames of a thread that is blocked (on a lock, the GIL, a condition or epoll)."""


def is_waiting(frames: list[str]) -> bool:
    """Whether a ``--native`` sample is a blocked thread rather than one on the CPU.

    py-spy counts threads blocked in C as active; with native frames they can be told
    apart. Unresolved libc addresses at the top are internal futex waits.
    """
    leaf = frames[-1]
    if leaf.startswith("0x") and "libc" in leaf:
        return True
    return any(marker in f for f in frames[-8:] for marker in WAIT_MARKERS)


def is_python(frame: str) -> bool:
    match = _FRAME.match(frame.strip())
    return bool((match and match["file"].endswith(".py")) or "<frozen" in frame)


def summarize(raw_path: Path, top: int = 25) -> str:
    """On-CPU hot spots of a raw py-spy profile: parts, self and inclusive shares.

    With ``--native`` stacks, samples of blocked threads are dropped (see
    :func:`is_waiting`); shares are of the remaining on-CPU samples. Self time of a native
    leaf is shown with the Python function that called into it.
    """
    self_funcs: Counter[str] = Counter()
    self_lines: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    shoal_inclusive: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = waiting = gc_samples = 0
    native = False
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        native = native or any(not is_python(f) for f in frames)
        if is_waiting(frames):
            waiting += count
            continue
        total += count
        if any("gc_collect_main" in f for f in frames[-4:]):
            gc_samples += count
        leaf = frames[-1]
        if is_python(leaf):
            self_funcs[function_key(leaf)] += count
            self_lines[short(leaf)] += count
        else:
            caller = next((f for f in reversed(frames) if is_python(f)), "")
            name = leaf.split(" (")[0]
            self_funcs[f"[native] {name} <- {function_key(caller)}"] += count
            self_lines[f"[native] {name} <- {short(caller)}"] += count
        keys = {function_key(f) for f in frames if is_python(f)}
        for key in keys:
            inclusive[key] += count
            if key.split(" (", 1)[-1].startswith("shoal/"):
                shoal_inclusive[key] += count
        shortened = [short(f) for f in frames]
        part = "event loop (asyncio; in the server: uvicorn + the HTTP edge)"
        for name, needles in PARTS:
            if any(n in f for f in shortened for n in needles):
                part = name
                break
        parts[part] += count
    if not total:
        return f"no on-CPU samples in {raw_path}"
    out = [
        f"{total + waiting} samples in {raw_path}; {total} on CPU"
        + (f", {waiting} blocked (dropped)" if native else " (no native frames: waits included)")
    ]
    out.append("\nshare of on-CPU samples by part of the server:")
    out += [f"  {n / total:6.1%}  {name}" for name, n in parts.most_common()]
    if native:
        out.append(f"  ({gc_samples / total:.1%} of on-CPU samples are in the cyclic GC)")
    out.append(f"\ntop {top} by self time (top of stack):")
    out += [f"  {n / total:6.1%}  {name}" for name, n in self_funcs.most_common(top)]
    out.append(f"\ntop {top} lines by self time:")
    out += [f"  {n / total:6.1%}  {name}" for name, n in self_lines.most_common(top)]
    out.append(f"\ntop {top} shoal functions by inclusive time (on the stack):")
    out += [f"  {n / total:6.1%}  {name}" for name, n in shoal_inclusive.most_common(top)]
    out.append(f"\ntop {top} Python functions by inclusive time:")
    out += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def record(
    pid: int, duration: float, out: Path, extra: list[str], rate: int, cpu: int | None
) -> Path:
    raw = out.with_suffix(".txt")
    base = [*(["taskset", "-c", str(cpu)] if cpu is not None else []), py_spy(), "record"]
    flags = ["--pid", str(pid), "--duration", str(int(duration)), "--rate", str(rate)]
    flags += extra
    subprocess.run([*base, *flags, "--format", "raw", "-o", str(raw)], check=True)
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description="py-spy profile of a loaded Shoal server")
    parser.add_argument("--load", choices=("track", "batch", "idle"), default="track")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds recorded")
    parser.add_argument("--connections", type=int, help="default: 32 track, 8 batch")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--no-native", action="store_true", help="without --native (waits cannot be dropped)"
    )
    parser.add_argument(
        "--gil", action="store_true", help="py-spy --gil: only samples holding the GIL"
    )
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--out", type=Path, default=Path("/tmp/shoal-profiles"))
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--summarize", type=Path, help="only summarize this raw profile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.summarize:
        print(summarize(args.summarize, args.top))
        return
    install_watchdog(args.duration + 120)
    pinning = detect_pinning(args.no_pin)
    pinning.pin_self_to_load_cpu()
    print_header(f"profile_server: py-spy under the {args.load} load", pinning)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.load}-{time.strftime('%Y%m%d-%H%M%S')}"
    server = start_server(pinning, launcher=True, name="profile")
    try:
        load_seconds = args.duration + 6
        loader: subprocess.Popen[bytes] | threading.Thread | None = None
        if args.load == "track":
            if shutil.which("wrk") is None:
                sys.exit("wrk is needed: apt-get install -y wrk")
            conns = args.connections or 32
            env = {
                **os.environ,
                "SHOAL_BENCH_AUTH": basic_auth(server.write_key),
                "SHOAL_BENCH_RUN": uuid.uuid4().hex[:12],
            }
            cmd = [
                *pinning.load_prefix(),
                "wrk",
                "-t1",
                f"-c{conns}",
                f"-d{load_seconds:g}s",
                "-s",
                str(BENCH_DIR / "wrk_track.lua"),
                f"http://127.0.0.1:{server.port}/v1/track",
            ]
            loader = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        elif args.load == "batch":
            factory = EventFactory()
            conns = args.connections or 8

            def post() -> None:
                result = run_load(
                    server.port,
                    "/v1/batch",
                    lambda: factory.batch_body(args.batch),
                    events_per_body=args.batch,
                    write_key=server.write_key,
                    connections=conns,
                    duration=load_seconds,
                )
                print(f"load: {result.events_per_s:,.0f} events/s acknowledged")

            loader = threading.Thread(target=post, daemon=True)
            loader.start()
        time.sleep(3.0)
        extra = [*([] if args.no_native else ["--native"]), *(["--gil"] if args.gil else [])]
        raw = record(server.pid, args.duration, stem, extra, args.rate, pinning.load_cpu)
        if isinstance(loader, subprocess.Popen):
            loader.wait(30)
        elif isinstance(loader, threading.Thread):
            loader.join(30)
        status = server.status()
        print(
            f"server status after: lag {status['queue']['lag']:,}, stored "
            f"{status['store']['events']:,}"
        )
    finally:
        server.stop()
    print(f"raw profile (collapsed stacks, flamegraph.pl input): {raw}")
    print(summarize(raw, args.top))


if __name__ == "__main__":
    main()
