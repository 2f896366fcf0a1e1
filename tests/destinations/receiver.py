"""A real HTTP receiver on 127.0.0.1 for destination tests (aiohttp in its own thread).

Tests give it a ``respond`` function deciding each answer, read what arrived from
``requests``, and take it ``down()`` (the port refuses connections) and ``up()`` again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.server import free_port


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Respond = Callable[[Received], Reply]


def ok(_request: Received) -> Reply:
    return 200, {"ok": True}


class Receiver:
    """Start with ``with Receiver() as r:``; ``r.url`` is its base URL."""

    def __init__(self, respond: Respond = ok, port: int | None = None) -> None:
        self.respond = respond
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Received] = []
        self.seen: list[Received] = []
        """Every request, whatever the answer."""
        self.delay = 0.0
        """Seconds to wait before answering (a slow or hanging vendor)."""
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.respond(received)
        status, body = reply[0], reply[1]
        headers = reply[2] if len(reply) == 3 else {}
        with self._lock:
            self.seen.append(received)
            if 200 <= status < 300:
                self.requests.append(received)
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, headers=headers, content_type=None)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _up(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()

    async def _down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None

    def up(self) -> Receiver:
        self._run(self._up())
        return self

    def down(self) -> None:
        self._run(self._down())

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self.up()

    def __exit__(self, *_exc: object) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def accepted(self) -> list[Received]:
        """Requests answered 2xx, in arrival order."""
        with self._lock:
            return list(self.requests)

    def messages(self) -> list[dict[str, Any]]:
        """Every message delivered in a 2xx request (batches unpacked)."""
        out: list[dict[str, Any]] = []
        for request in self.accepted():
            data = request.json()
            out.extend(data["batch"] if isinstance(data, dict) and "batch" in data else [data])
        return out

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until ``count`` messages arrived; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, received {len(self.messages())}")
