"""Shared helpers for the benchmarks in ``bench/`` (not part of the test suite).

Servers, sources, realistic Segment events, a lean HTTP/1.1 load client, statistics,
CPU pinning and clean-up. Every benchmark talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import http.client
import itertools
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
ADMIN_TOKEN = "bench-admin-token"
HOST = "127.0.0.1"
SUCCESS = b'{"success":true}'

# -- processes and temp dirs we own, cleaned up however the script ends ---------------------

_CHILDREN: list[subprocess.Popen[bytes]] = []
_TEMP_DIRS: list[Path] = []


def _cleanup() -> None:
    for proc in _CHILDREN:
        stop_process(proc, timeout=20.0)
    _CHILDREN.clear()
    for path in _TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    _TEMP_DIRS.clear()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signum}")


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)


def install_watchdog(seconds: float) -> None:
    """Abort the whole script (cleaning up) if it runs longer than ``seconds``."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(f"benchmark exceeded its time bound of {seconds:.0f} s; aborted")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, int(seconds)))


def temp_dir(prefix: str) -> Path:
    """A fresh directory under the system temp dir, removed when the script exits."""
    path = Path(tempfile.mkdtemp(prefix=f"shoal-bench-{prefix}-"))
    _TEMP_DIRS.append(path)
    return path


def remove_dir(path: Path) -> None:
    """Remove a temp dir now (it is also forgotten by the exit clean-up)."""
    shutil.rmtree(path, ignore_errors=True)
    if path in _TEMP_DIRS:
        _TEMP_DIRS.remove(path)


def spawn(
    cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a child whose output goes to ``log_path``; it is stopped at exit."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
    _CHILDREN.append(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int | None:
    """Ctrl-C one child we started, then kill it if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in _CHILDREN:
        _CHILDREN.remove(proc)
    return proc.returncode


# -- machine, pinning, reproduction ---------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_summary() -> str:
    """nproc, CPU model, Python and load average, for the report."""
    load = os.getloadavg()
    return (
        f"nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()} "
        f"({platform.python_implementation()}) kernel={platform.release()} "
        f"loadavg(before)={load[0]:.2f}"
    )


@dataclass(frozen=True)
class Pinning:
    """Which CPU the server and the load generator run on, if pinned at all."""

    server_cpu: int | None
    load_cpu: int | None

    @property
    def enabled(self) -> bool:
        return self.server_cpu is not None

    def server_prefix(self) -> list[str]:
        """Command prefix that pins a child server (empty when not pinned)."""
        return ["taskset", "-c", str(self.server_cpu)] if self.server_cpu is not None else []

    def load_prefix(self) -> list[str]:
        """Command prefix that pins an external load generator such as wrk."""
        return ["taskset", "-c", str(self.load_cpu)] if self.load_cpu is not None else []

    def pin_self_to_load_cpu(self) -> None:
        """Pin this (load-generating) process; call before starting any thread."""
        if self.load_cpu is not None:
            os.sched_setaffinity(0, {self.load_cpu})

    def describe(self) -> str:
        if self.server_cpu is None:
            return "no CPU pinning (taskset missing, fewer than 2 CPUs, or --no-pin)"
        return (
            f"server pinned to CPU {self.server_cpu} (taskset -c {self.server_cpu}), "
            f"load generator pinned to CPU {self.load_cpu}"
        )


def detect_pinning(disabled: bool = False) -> Pinning:
    """Server on the first allowed CPU, load on the second, when taskset and 2 CPUs exist."""
    cpus = sorted(os.sched_getaffinity(0))
    if disabled or shutil.which("taskset") is None or len(cpus) < 2:
        return Pinning(None, None)
    return Pinning(cpus[0], cpus[1])


def reproduce_command() -> str:
    """The command line that reruns this script exactly, from the repository root."""
    python = Path(sys.executable)
    try:
        shown_python = str(python.relative_to(REPO))
    except ValueError:
        shown_python = str(python)
    script = Path(sys.argv[0]).resolve()
    try:
        shown_script = str(script.relative_to(REPO))
    except ValueError:
        shown_script = str(script)
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    pythonpath = os.environ.get("PYTHONPATH")
    env = f"PYTHONPATH={shlex.quote(pythonpath)} " if pythonpath else ""
    return f"cd {shlex.quote(str(REPO))} && {env}{shown_python} {shown_script} {args}".rstrip()


def shoal_source() -> str:
    """Which shoal code is measured: its path, and the repository commit if it is ours."""
    import shoal

    path = Path(shoal.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head, dirty = "?", ""
    if path.is_relative_to(REPO):
        state = "with uncommitted changes in src/" if dirty else "clean"
        return f"{path.relative_to(REPO)} at commit {head} ({state})"
    return f"{path} (PYTHONPATH; repository HEAD is {head})"


def print_header(title: str, pinning: Pinning | None, notes: Sequence[str] = ()) -> None:
    """The first lines of every report: what, where, and how to run it again."""
    print(f"== {title} ==")
    print(f"reproduce: {reproduce_command()}")
    print(f"machine:   {machine_summary()}")
    print(f"shoal:     {shoal_source()}")
    overrides = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("SHOAL_"))
    if overrides:
        print(f"settings:  from the environment: {' '.join(overrides)}")
    if pinning is not None:
        print(f"pinning:   {pinning.describe()}")
    for note in notes:
        print(f"note:      {note}")
    sys.stdout.flush()


# -- statistics -----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return float(ordered[rank - 1])


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# -- small synchronous HTTP for control calls ----------------------------------------------


def http_json(
    port: int,
    method: str,
    path: str,
    body: object | None = None,
    token: str | None = ADMIN_TOKEN,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One JSON request to the local server; returns (status, decoded body or None)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, None if body is None else json.dumps(body), headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- servers --------------------------------------------------------------------------------


@dataclass
class Server:
    """One Shoal server child process over its own temp data dir."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    write_key: str = ""
    source_id: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            try:
                status, _ = http_json(self.port, "GET", "/healthz", token=None, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy:\n{self.log_tail()}")

    def create_source(self, name: str = "bench") -> str:
        status, body = http_json(
            self.port,
            "POST",
            "/api/v1/sources",
            {"name": name, "type": "server", "environment": "dev"},
        )
        if status != 201:
            raise RuntimeError(f"creating a source failed: {status} {body!r}")
        self.write_key = str(body["write_key"])
        self.source_id = str(body["id"])
        return self.write_key

    def status(self) -> dict[str, Any]:
        code, body = http_json(self.port, "GET", "/api/v1/status")
        if code != 200:
            raise RuntimeError(f"/api/v1/status answered {code}: {body!r}")
        result: dict[str, Any] = body
        return result

    def wait_drained(self, expected: int, timeout: float, poll: float = 0.5) -> dict[str, Any]:
        """Poll status until lag is 0 and ``expected`` events are stored."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if st["queue"]["lag"] == 0 and st["store"]["events"] >= expected:
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"not drained after {timeout:.0f} s: lag={st['queue']['lag']} "
                    f"stored={st['store']['events']} expected={expected}"
                )
            time.sleep(poll)

    def stop(self) -> None:
        stop_process(self.proc, timeout=60.0)


def start_server(
    pinning: Pinning,
    *,
    launcher: bool,
    name: str,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Start ``shoal serve`` (or the bench launcher, same stack plus no-op routes).

    A fresh temp data dir is used; the admin token is :data:`ADMIN_TOKEN`; a source is
    created and its write key kept on the returned server.
    """
    root = temp_dir(name)
    data_dir = root / "data"
    port = free_port()
    if launcher:
        program = [sys.executable, str(BENCH_DIR / "serve_app.py")]
    else:
        program = [sys.executable, "-m", "shoal", "serve"]
    cmd = [
        *pinning.server_prefix(),
        *program,
        "--data-dir",
        str(data_dir),
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {"SHOAL_ADMIN_TOKEN": ADMIN_TOKEN, **(extra_env or {})}
    log_path = root / "server.log"
    server = Server(spawn(cmd, log_path, env), port, data_dir, log_path)
    server.wait_healthy()
    server.create_source()
    return server


# -- /proc memory ---------------------------------------------------------------------------


def proc_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM and friends of a process, in kB, from /proc/PID/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


# -- realistic events -----------------------------------------------------------------------

_EVENTS = [
    ("Order Completed", "order"),
    ("Product Viewed", "product"),
    ("Product Added", "product"),
    ("Checkout Started", "order"),
    ("Signed Up", "account"),
    ("Page Section Viewed", "content"),
]
_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"
_MID = "@@MID@@"


def _track_event(rng: random.Random) -> dict[str, Any]:
    name, kind = rng.choice(_EVENTS)
    user = rng.randrange(100_000)
    properties: dict[str, Any]
    if kind == "order":
        properties = {
            "order_id": f"ord_{rng.randrange(10**9):09d}",
            "revenue": round(rng.uniform(5, 500), 2),
            "currency": "USD",
            "coupon": rng.choice([None, "SPRING24", "WELCOME10"]),
            "products": [
                {"product_id": f"sku_{rng.randrange(10**5)}", "quantity": rng.randint(1, 4)}
                for _ in range(rng.randint(1, 2))
            ],
        }
    elif kind == "product":
        properties = {
            "product_id": f"sku_{rng.randrange(10**5)}",
            "category": rng.choice(["Games", "Books", "Garden", "Kitchen"]),
            "price": round(rng.uniform(1, 200), 2),
            "position": rng.randint(1, 24),
        }
    elif kind == "account":
        properties = {"plan": rng.choice(["free", "team", "pro"]), "referrer": "newsletter"}
    else:
        properties = {"section": rng.choice(["hero", "pricing", "faq"]), "scroll_depth": 0.75}
    return {
        "type": "track",
        "event": name,
        "userId": f"user_{user:06d}",
        "anonymousId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "messageId": _MID,
        "timestamp": "2025-03-14T09:26:53.589Z",
        "properties": properties,
        "context": {
            "library": {"name": "analytics-python", "version": "2.3.3"},
            "ip": f"203.0.113.{rng.randrange(1, 255)}",
            "locale": "en-US",
            "userAgent": _UA,
        },
        "integrations": {},
    }


@dataclass
class EventFactory:
    """Realistic Segment track events (~400-600 bytes), each with a unique messageId.

    A pool of encoded templates is built once; producing an event only splices a new
    messageId in, so a load generator spends little CPU per event.
    """

    seed: int = 7
    pool_size: int = 1000
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _parts: list[tuple[bytes, bytes]] = field(init=False, default_factory=list)
    _counter: itertools.count[int] = field(init=False, default_factory=itertools.count)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for _ in range(self.pool_size):
            encoded = json.dumps(_track_event(rng), separators=(",", ":")).encode()
            before, after = encoded.split(_MID.encode())
            self._parts.append((before, after))

    def sizes(self) -> tuple[int, int, float]:
        """(min, max, mean) encoded size of an event in bytes."""
        id_len = len(self._id(0))
        lengths = [len(a) + len(b) + id_len for a, b in self._parts]
        return min(lengths), max(lengths), sum(lengths) / len(lengths)

    def _id(self, n: int) -> bytes:
        return f"{self.run_id}-{n:010d}".encode()

    def event(self) -> bytes:
        n = next(self._counter)
        before, after = self._parts[n % self.pool_size]
        return before + self._id(n) + after

    def events(self, count: int) -> list[bytes]:
        return [self.event() for _ in range(count)]

    def batch_body(self, count: int) -> bytes:
        """A ``/v1/batch`` body of ``count`` events, as analytics-python sends it."""
        return (
            b'{"batch":['
            + b",".join(self.events(count))
            + b'],"sentAt":"2025-03-14T09:26:53.600Z"}'
        )


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


# -- a lean HTTP/1.1 keep-alive load client ------------------------------------------------


class HttpConnection:
    """One keep-alive connection that POSTs pre-encoded bodies and reads the answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, path: str, body: bytes, headers: str) -> tuple[int, bytes]:
        if self._writer is None or self._reader is None:
            await self.connect()
        assert self._writer is not None and self._reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._writer.write(head)
        self._writer.write(body)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self._reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = self._reader = None


@dataclass
class LoadResult:
    """What one timed load run achieved."""

    requests: int
    events: int
    errors: int
    elapsed: float
    latencies: list[float]
    error_samples: list[str]

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed if self.elapsed else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0


async def _load(
    port: int,
    path: str,
    make_body: Callable[[], bytes],
    events_per_body: int,
    headers: str,
    connections: int,
    duration: float | None,
    total_requests: int | None,
) -> LoadResult:
    conns = [HttpConnection(port) for _ in range(connections)]
    await asyncio.gather(*(c.connect() for c in conns))
    latencies: list[float] = []
    errors: list[str] = []
    counts = {"requests": 0, "events": 0}
    issued = itertools.count()
    start = time.perf_counter()
    end = start + duration if duration is not None else float("inf")
    last_done = start

    async def worker(conn: HttpConnection) -> None:
        nonlocal last_done
        while time.perf_counter() < end:
            if total_requests is not None and next(issued) >= total_requests:
                return
            body = make_body()
            t0 = time.perf_counter()
            status, answer = await conn.post(path, body, headers)
            t1 = time.perf_counter()
            last_done = max(last_done, t1)
            latencies.append(t1 - t0)
            if status == 200 and answer == SUCCESS:
                counts["requests"] += 1
                counts["events"] += events_per_body
            else:
                errors.append(f"{status} {answer[:200]!r}")

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return LoadResult(
        counts["requests"], counts["events"], len(errors), last_done - start, latencies, errors[:5]
    )


def run_load(
    port: int,
    path: str,
    make_body: Callable[[], bytes],
    *,
    events_per_body: int,
    write_key: str,
    connections: int,
    duration: float | None = None,
    total_requests: int | None = None,
) -> LoadResult:
    """POST bodies over ``connections`` keep-alive connections for ``duration`` seconds
    (or until ``total_requests`` were sent); counts only ``200 {"success":true}``."""
    headers = f"Authorization: {basic_auth(write_key)}\r\nContent-Type: application/json\r\n"
    coro = _load(
        port, path, make_body, events_per_body, headers, connections, duration, total_requests
    )
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


class RssSampler:
    """Samples a process's VmRSS in a background thread; keeps the largest seen."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            try:
                rss = proc_memory_kb(self.pid).get("VmRSS", 0)
            except OSError:
                return
            self.samples.append((time.monotonic() - start, rss))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_kb(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


def write_json_result(path: str | None, payload: dict[str, Any]) -> None:
    """Optionally save the figures as JSON (``--json PATH``) for docs/benchmarks.md."""
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        print(f"figures written to {path}")
