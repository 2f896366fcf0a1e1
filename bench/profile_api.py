"""Profile API latency with one million profiles (target: p99 < 20 ms per request).

Builds a data dir whose dev space holds N user profiles (default 1,000,000), each made by
an identify (user_id, anonymous_id, email, two traits) resolved through the real
``IdentityStage``, plus a track event for a tenth of them; then starts ``shoal serve`` on
it and times sequential requests over one keep-alive connection to ``traits``,
``external_ids``, ``metadata``, ``events`` and ``links`` of random existing profiles,
looked up by ``user_id:`` or ``email:``.

    .venv/bin/python bench/profile_api.py                      # ~3 minutes
    .venv/bin/python bench/profile_api.py --profiles 100000    # ~30 seconds

Side by side (build the data once, then alternate two code trees on it):

    .venv/bin/python bench/profile_api.py --data-dir /tmp/pa --build-only
    PYTHONPATH=/tmp/idbase/src .venv/bin/python bench/profile_api.py --data-dir /tmp/pa
    .venv/bin/python bench/profile_api.py --data-dir /tmp/pa --requests 300

``--data-dir`` builds there when it holds no data yet and reuses it otherwise (the
server started on it is the one of the Python path the script runs with).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import random
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    ADMIN_TOKEN,
    HOST,
    Server,
    free_port,
    install_watchdog,
    percentile,
    print_header,
    spawn,
    temp_dir,
    verdict,
    write_json_result,
)
from shoal.control import ControlPlane
from shoal.identity import IdentityService
from shoal.settings import Settings
from shoal.spec.normalize import NormalizedEvent
from shoal.store.duckdb import DuckDBStore

TARGET_P99_MS = 20.0
ROUND = 5000
RESOURCES = ("traits", "external_ids", "metadata", "events", "links")


def _event(ws: str, n: int, kind: str, fields: dict[str, Any]) -> NormalizedEvent:
    ts = 1_700_000_000_000 + n
    mid = f"p{n}-{kind}"
    message = {"type": kind, "messageId": mid, "context": {}, **fields}
    return NormalizedEvent(
        source_id="src_bench", workspace_id=ws, environment="dev", message_id=mid, type=kind,
        status="accepted", reason=None, received_at=ts, timestamp=ts, message=message,
        event=fields.get("event"),
    )  # fmt: skip


async def build(data_dir: Path, profiles: int) -> str:
    """Bootstrap the data dir and resolve ``profiles`` people into it; returns the workspace."""
    settings = Settings(data_dir=data_dir)
    control = ControlPlane(settings.resolved_control_url())
    control.migrate()
    created = control.bootstrap(ADMIN_TOKEN)
    assert created is not None
    workspace = created[0].id
    store = DuckDBStore(data_dir / "events.duckdb")
    await store.start()
    service = IdentityService(control, store)
    await service.store.start()
    started = time.perf_counter()
    for first in range(0, profiles, ROUND):
        batch = []
        for n in range(first, min(first + ROUND, profiles)):
            traits = {"email": f"person{n}@example.com", "plan": "pro", "age": n % 90}
            batch.append(
                _event(workspace, n, "identify",
                       {"userId": f"user-{n}", "anonymousId": f"anon-{n}", "traits": traits})
            )  # fmt: skip
            if n % 10 == 0:
                batch.append(
                    _event(workspace, n, "track",
                           {"userId": f"user-{n}", "event": "Order Completed",
                            "properties": {"revenue": n % 500}})
                )  # fmt: skip
        await service.stage.process_committed(batch)
    print(f"built {profiles:,} profiles in {time.perf_counter() - started:.0f} s")
    await store.close()
    control.engine.dispose()
    return workspace


def measure(port: int, profiles: int, requests: int) -> dict[str, list[float]]:
    """Sequential GETs over one connection; milliseconds per resource."""
    rng = random.Random(11)
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    out: dict[str, list[float]] = {r: [] for r in RESOURCES}
    for i in range(requests * len(RESOURCES)):
        resource = RESOURCES[i % len(RESOURCES)]
        n = rng.randrange(profiles)
        ref = f"user_id:user-{n}" if rng.random() < 0.5 else f"email:person{n}@example.com"
        path = f"/api/v1/spaces/dev/collections/users/profiles/{ref}/{resource}"
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {body[:200]!r}")
        if i >= len(RESOURCES) * 20:  # the first requests warm caches and connections
            out[resource].append(elapsed)
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000, help="per resource")
    parser.add_argument(
        "--store-memory-limit",
        default="2GB",
        help="SHOAL_STORE_MEMORY_LIMIT of the server (the 256MB default cannot hold the "
        "identity tables' ART indexes at a million profiles: requests fail out of memory)",
    )
    parser.add_argument("--json", help="Write the results to this file.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="Build the profiles here if it holds no data yet, else reuse them "
        "(default: a fresh temp dir, removed at exit).",
    )
    parser.add_argument(
        "--build-only", action="store_true", help="Build the data dir and exit (no server)."
    )
    args = parser.parse_args()
    install_watchdog(1800)
    print_header(
        "Profile API latency",
        None,
        [
            f"{args.profiles:,} profiles; {args.requests:,} sequential requests per resource; "
            f"store memory limit {args.store_memory_limit}"
        ],
    )
    root = temp_dir("profile-api")
    data_dir = args.data_dir or root / "data"
    if (data_dir / "events.duckdb").exists():
        print(f"reusing {data_dir} (--profiles must match what it was built with)")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(build(data_dir, args.profiles))
    if args.build_only:
        return
    port = free_port()
    cmd = [sys.executable, "-m", "shoal", "serve", "--data-dir", str(data_dir),
           "--host", HOST, "--port", str(port), "--log-level", "warning"]  # fmt: skip
    log_path = root / "server.log"
    server = Server(
        spawn(
            cmd,
            log_path,
            {
                "SHOAL_ADMIN_TOKEN": ADMIN_TOKEN,
                "SHOAL_STORE_MEMORY_LIMIT": args.store_memory_limit,
            },
        ),
        port,
        data_dir,
        log_path,
    )
    server.wait_healthy(timeout=300)
    try:
        results = measure(port, args.profiles, args.requests)
    finally:
        server.stop()
    summary: dict[str, Any] = {}
    worst = 0.0
    for resource, values in results.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        worst = max(worst, p99)
        summary[resource] = {"p50_ms": p50, "p99_ms": p99, "max_ms": max(values)}
        print(f"{resource:>13}: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {max(values):7.2f} ms")
    print(f"worst p99: {worst:.2f} ms  target < {TARGET_P99_MS:.0f} ms: "
          f"{verdict(worst < TARGET_P99_MS)}")  # fmt: skip
    write_json_result(args.json, {"profiles": args.profiles, "resources": summary})


if __name__ == "__main__":
    main()
