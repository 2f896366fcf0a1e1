"""Webhook delivery: throughput with batching, and latency from acceptance to the receiver.

Targets (issue 6): >= 10,000 events/s delivered with batching to a local receiver, and
p95 delivery latency (the server's receivedAt -> arrival at the receiver) < 1 s while
1,000 events/s are sent.

Method. A real ``shoal serve`` (its destinations allowed to reach 127.0.0.0/8) and, in
this process, an aiohttp receiver on loopback that records every messageId and its
arrival time, answering 200 (or 503 while "down").

* Throughput: the receiver is down (503) while N realistic track events are ingested
  through ``/v1/batch``, so they pile up behind a webhook destination (batch size 500,
  4 requests in flight). The receiver then comes up and the clock runs from its first
  accepted request until all N distinct messageIds arrived; events/s = N / that time.
  Duplicates are counted (must be 0).
* Latency: a second source and destination; events are sent paced at 1,000 events/s (a
  20-event batch every 20 ms) for D seconds; latency of each event = arrival time minus
  its receivedAt stamp (same machine clock). Reported p50/p95/max.

The receiver, load and server share this machine's CPUs (2 cores here), so figures
are conservative. ``--quick`` uses smaller N and D.

    .venv/bin/python bench/webhook_delivery.py           # ~1.5 minutes
    .venv/bin/python bench/webhook_delivery.py --quick   # ~40 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from common import (
    ADMIN_TOKEN,
    EventFactory,
    HttpConnection,
    Server,
    basic_auth,
    detect_pinning,
    free_port,
    http_json,
    install_watchdog,
    percentile,
    print_header,
    run_load,
    start_server,
    verdict,
    write_json_result,
)

TARGET_EVENTS_PER_S = 10_000
TARGET_P95_S = 1.0
_DECODE = msgspec.json.Decoder().decode
ENV = {
    "SHOAL_DESTINATIONS_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    "SHOAL_DESTINATIONS_BACKOFF_MIN_SECONDS": "0.2",
    "SHOAL_DESTINATIONS_BACKOFF_MAX_SECONDS": "1",
}


class Receiver:
    """Records messageIds with arrival times; ``up`` False answers 503."""

    def __init__(self) -> None:
        self.port = free_port()
        self.up = True
        self.arrivals: dict[str, list[tuple[float, str]]] = {}
        self.first_ok: float | None = None
        self.duplicates = 0
        self._lock = threading.Lock()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.up:
            return web.Response(status=503, text="down")
        now = time.time()
        batch = _DECODE(body)["batch"]
        with self._lock:
            if self.first_ok is None:
                self.first_ok = now
            for message in batch:
                seen = self.arrivals.setdefault(message["messageId"], [])
                if seen:
                    self.duplicates += 1
                seen.append((now, message.get("receivedAt", "")))
        return web.json_response({"ok": True})

    def count(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def start(self) -> None:
        loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application(client_max_size=256 * 1024 * 1024)
            app.router.add_post("/{tail:.*}", self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()

        loop.run_until_complete(serve())
        threading.Thread(target=loop.run_forever, daemon=True).start()


def create_destination(server: Server, name: str, receiver: Receiver) -> str:
    status, body = http_json(
        server.port,
        "POST",
        "/api/v1/destinations",
        {
            "name": name,
            "type": "webhook",
            "settings": {"url": f"http://127.0.0.1:{receiver.port}/in", "batch_size": 500},
            "max_in_flight": 4,
            "source_ids": [server.source_id],
        },
        token=ADMIN_TOKEN,
    )
    if status != 201:
        raise RuntimeError(f"creating the destination failed: {status} {body!r}")
    return str(body["id"])


def throughput(server: Server, receiver: Receiver, events: int) -> dict[str, Any]:
    receiver.up = False
    dest = create_destination(server, "throughput", receiver)
    factory = EventFactory(seed=11)
    requests = events // 100
    load = run_load(
        server.port,
        "/v1/batch",
        lambda: factory.batch_body(100),
        events_per_body=100,
        write_key=server.write_key,
        connections=8,
        total_requests=requests,
    )
    server.wait_drained(load.events, timeout=300)
    receiver.up = True
    deadline = time.monotonic() + 300
    while receiver.count() < load.events and time.monotonic() < deadline:
        time.sleep(0.05)
    last = max(t for seen in receiver.arrivals.values() for t, _ in seen)
    assert receiver.first_ok is not None
    elapsed = last - receiver.first_ok
    _, metrics = http_json(server.port, "GET", f"/api/v1/destinations/{dest}/metrics")
    return {
        "events": load.events,
        "delivered": receiver.count(),
        "duplicates": receiver.duplicates,
        "seconds": round(elapsed, 3),
        "events_per_s": round(receiver.count() / elapsed) if elapsed else 0,
        "requests": metrics["requests"],
    }


async def _paced(server: Server, factory: EventFactory, seconds: float) -> int:
    headers = f"Authorization: {basic_auth(server.write_key)}\r\nContent-Type: application/json\r\n"
    conn = HttpConnection(server.port)
    await conn.connect()
    sent, start = 0, time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            due = start + sent / 1000
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            status, _ = await conn.post("/v1/batch", factory.batch_body(20), headers)
            if status != 200:
                raise RuntimeError(f"/v1/batch answered {status}")
            sent += 20
    finally:
        await conn.close()
    return sent


def latency(server: Server, seconds: float) -> dict[str, Any]:
    receiver = Receiver()
    receiver.start()
    server.create_source("latency")
    create_destination(server, "latency", receiver)
    sent = asyncio.run(_paced(server, EventFactory(seed=12), seconds))
    deadline = time.monotonic() + 60
    while receiver.count() < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    latencies = []
    for seen in receiver.arrivals.values():
        arrived, received_at = seen[0]
        accepted = datetime.fromisoformat(received_at.replace("Z", "+00:00")).timestamp()
        latencies.append(arrived - accepted)
    return {
        "sent": sent,
        "delivered": receiver.count(),
        "duplicates": receiver.duplicates,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--json", default=None, help="Also write the figures here.")
    args = parser.parse_args()
    events = args.events or (30_000 if args.quick else 100_000)
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    install_watchdog(900)
    pinning = detect_pinning(disabled=True)
    print_header("webhook delivery", pinning, [f"{events} events; latency run {seconds:g} s"])
    receiver = Receiver()
    receiver.start()
    server = start_server(pinning, launcher=False, name="webhook", extra_env=ENV)
    try:
        tp = throughput(server, receiver, events)
        print(
            f"throughput: {tp['delivered']}/{tp['events']} delivered in {tp['seconds']} s = "
            f"{tp['events_per_s']} events/s over {tp['requests']} requests, "
            f"{tp['duplicates']} duplicates -> {verdict(tp['events_per_s'] >= TARGET_EVENTS_PER_S)}"
            f" (target >= {TARGET_EVENTS_PER_S})"
        )
        lat = latency(server, seconds)
        print(
            f"latency at 1,000 events/s: {lat['delivered']}/{lat['sent']} delivered, "
            f"p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms, "
            f"{lat['duplicates']} duplicates -> {verdict(lat['p95_ms'] < TARGET_P95_S * 1000)}"
            f" (target p95 < {TARGET_P95_S * 1000:.0f} ms)"
        )
        write_json_result(args.json, {"throughput": tp, "latency": lat})
    finally:
        server.stop()


if __name__ == "__main__":
    main()
