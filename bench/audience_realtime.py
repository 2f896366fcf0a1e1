"""Real-time audiences on a running server: membership latency and ingestion alongside.

1. **Latency** (target p95 < 1 s): a server with 100 real-time audiences; a probe track
   call for a new user is sent and, from its ``200``, the Profile API is polled every 5 ms
   until the probe audience lists the user. Probes run one at a time, idle and then while a
   background client ingests a steady 1,000 events/s.
2. **Ingestion is not blocked**: the same batch load (``--events`` events, 100 per batch,
   as fast as the server takes them) goes to a server without audiences and to one with
   the 100 real-time audiences, alternating; the figure is events/s until stored (queue
   lag 0), and the ratio. Both servers share the pinned CPU, so each run starts once both
   are quiet: the other one's leftover audience passes would slow the one measured.

    .venv/bin/python bench/audience_realtime.py              # ~3 minutes
    .venv/bin/python bench/audience_realtime.py --quick      # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import threading
import time
from typing import Any

from common import (
    EventFactory,
    HttpConnection,
    Server,
    basic_auth,
    detect_pinning,
    http_json,
    install_watchdog,
    median,
    percentile,
    print_header,
    proc_cpu_seconds,
    start_server,
    verdict,
    write_json_result,
)

LATENCY_TARGET_S = 1.0
PROBE = "probe_audience"


def audience_definitions(count: int) -> list[tuple[str, str]]:
    """``count`` real-time audiences over the benchmark's events, of varied shapes."""
    names = ["Order Completed", "Product Viewed", "Product Added", "Checkout Started", "Signed Up"]
    shapes = [
        "event('{e}').count() >= {n}",
        "event('{e}').within(30 days).count() >= {n}",
        "event('Order Completed').sum('revenue') > {r}",
        "event('Product Viewed').where(property('category') = 'Games').count() >= {n}",
        "event('{e}') and not event('Signed Up')",
        "event('Product Added') then not event('Order Completed') within {n} hours",
    ]
    out = [(PROBE, "event('Latency Probe').count() >= 1")]
    for i in range(count - 1):
        text = shapes[i % len(shapes)].format(
            e=names[i % len(names)], n=1 + i % 4, r=100 * (1 + i % 5)
        )
        out.append((f"bench_{i:03d}", text))
    return out


def create_audiences(server: Server, count: int) -> None:
    """Define the audiences and wait until each has been computed once."""
    for key, text in audience_definitions(count):
        status, body = http_json(
            server.port, "POST", "/api/v1/audiences",
            {"name": key, "key": key, "definition": text, "emit_events": False},
        )  # fmt: skip
        if status != 201:
            raise RuntimeError(f"creating {key} failed: {status} {body!r}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        _, body = http_json(server.port, "GET", "/api/v1/audiences")
        if all(a["status"] == "ready" for a in body["audiences"]):
            return
        time.sleep(0.2)
    raise TimeoutError("the audiences were not computed within 5 minutes")


def probe_latency(server: Server, probes: int, tag: str) -> list[float]:
    """Seconds from a probe's 200 to the user being listed in the probe audience."""
    latencies: list[float] = []
    auth = {"Authorization": basic_auth(server.write_key)}
    for i in range(probes):
        user = f"probe-{tag}-{i}"
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        body = json.dumps({"userId": user, "event": "Latency Probe"})
        conn.request("POST", "/v1/track", body, {"Content-Type": "application/json", **auth})
        if conn.getresponse().status != 200:
            raise RuntimeError("a probe was refused")
        conn.close()
        sent = time.perf_counter()
        path = f"/api/v1/spaces/dev/collections/users/profiles/user_id:{user}/audiences"
        while True:
            status, found = http_json(server.port, "GET", path)
            if status == 200 and any(a["key"] == PROBE for a in found["data"]):
                latencies.append(time.perf_counter() - sent)
                break
            if time.perf_counter() - sent > 30:
                raise TimeoutError(f"probe {user} never entered the audience")
            time.sleep(0.005)
    return latencies


async def _send_batches(server: Server, events: int, stop: threading.Event | None = None) -> int:
    factory = EventFactory(seed=11)
    headers = f"Authorization: {basic_auth(server.write_key)}\r\nContent-Type: application/json\r\n"
    conn = HttpConnection(server.port)
    sent = 0
    try:
        while sent < events and not (stop is not None and stop.is_set()):
            status, _ = await conn.post("/v1/batch", factory.batch_body(100), headers)
            if status != 200:
                raise RuntimeError(f"a batch was refused: {status}")
            sent += 100
            if stop is not None:
                # A steady 1,000 events/s the pipeline keeps up with: a flood would measure
                # the queue's backlog, not the audiences.
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return sent


def wait_quiet(server: Server, timeout: float = 600.0) -> float:
    """Seconds until the server used under 10% of a CPU for a whole second (its audience
    passes have caught up)."""
    started = time.monotonic()
    last = proc_cpu_seconds(server.pid)
    calm = 0
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = proc_cpu_seconds(server.pid)
        calm = calm + 1 if now - last < 0.05 else 0
        last = now
        if calm >= 2:
            return time.monotonic() - started
    raise TimeoutError(f"the server on port {server.port} stayed busy for {timeout:.0f} s")


def ingest(server: Server, events: int, others: tuple[Server, ...] = ()) -> float:
    """Events/s from the first batch to all of them stored, started once every server is
    quiet."""
    for quiet in (*others, server):
        wait_quiet(quiet)
    before = server.status()["store"]["events"]
    started = time.perf_counter()
    asyncio.run(_send_batches(server, events))
    server.wait_drained(before + events, timeout=600, poll=0.1)
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer probes and events")
    parser.add_argument("--audiences", type=int, default=100)
    parser.add_argument("--events", type=int, default=None, help="events per ingestion run")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    install_watchdog(1800)
    pinning = detect_pinning()
    probes = 20 if args.quick else 60
    events = args.events or (20_000 if args.quick else 60_000)
    print_header("Real-time audiences: latency and ingestion", pinning)

    plain = start_server(pinning, launcher=False, name="aud-plain")
    busy = start_server(pinning, launcher=False, name="aud-busy")
    try:
        create_audiences(busy, args.audiences)
        idle = probe_latency(busy, probes, "idle")
        stop = threading.Event()
        background = threading.Thread(
            target=lambda: asyncio.run(_send_batches(busy, 10**9, stop)), daemon=True
        )
        background.start()
        try:
            loaded = probe_latency(busy, probes, "load")
        finally:
            stop.set()
            background.join()
        # How long the passes take to catch up once the load stops (their backlog).
        backlog = wait_quiet(busy)
        rates: dict[str, list[float]] = {"none": [], "audiences": []}
        for _ in range(2):  # alternate: the machine's noise hits both alike
            rates["none"].append(ingest(plain, events, (busy,)))
            rates["audiences"].append(ingest(busy, events, (plain,)))
    finally:
        plain.stop()
        busy.stop()

    p95_idle, p95_load = percentile(idle, 95), percentile(loaded, 95)
    ratio = median(rates["audiences"]) / median(rates["none"])
    print(f"\n{args.audiences} real-time audiences")
    print(f"membership latency, idle:      p50 {median(idle) * 1000:6.0f} ms  "
          f"p95 {p95_idle * 1000:6.0f} ms  {verdict(p95_idle < LATENCY_TARGET_S)}")  # fmt: skip
    print(f"membership latency, ingesting: p50 {median(loaded) * 1000:6.0f} ms  "
          f"p95 {p95_load * 1000:6.0f} ms  {verdict(p95_load < LATENCY_TARGET_S)}")  # fmt: skip
    print(f"busy after the load stopped:   {backlog:6.1f} s")
    print(f"ingestion without audiences:   {median(rates['none']):8,.0f} ev/s (median of 2)")
    print(f"ingestion with {args.audiences} audiences:  {median(rates['audiences']):8,.0f} ev/s "
          f"(median of 2), ratio {ratio:.2f}")  # fmt: skip
    result: dict[str, Any] = {
        "audiences": args.audiences,
        "latency_idle_ms": {"p50": median(idle) * 1000, "p95": p95_idle * 1000},
        "latency_loaded_ms": {"p50": median(loaded) * 1000, "p95": p95_load * 1000},
        "ingest_events_per_s": rates,
        "ingest_ratio": ratio,
        "busy_after_load_s": backlog,
    }
    write_json_result(args.json, result)


if __name__ == "__main__":
    main()
