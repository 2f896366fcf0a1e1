"""The ``/v1`` routes, wire-compatible with Segment's HTTP Tracking API.

Plain Starlette endpoints rather than FastAPI ones: the hot path decodes with msgspec and
skips per-request pydantic work.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shoal.collect.body import read_body
from shoal.collect.errors import EdgeError
from shoal.collect.intake import batch_records, parse_batch, parse_single, single_records
from shoal.collect.keys import SourceKey, WriteKeys
from shoal.collect.ratelimit import RateLimiter
from shoal.collect.settings_document import settings_document
from shoal.spec.limits import MAX_BATCH_BYTES, MAX_EVENT_BYTES, SHORT_PATHS
from shoal.spec.timestamps import now_ms

if TYPE_CHECKING:
    from shoal.queue import Queue

log = logging.getLogger("shoal.collect")
Endpoint = Callable[[Request], Awaitable[Response]]
_SUCCESS = b'{"success":true}'


def _ok() -> Response:
    # A fresh response each time: middleware edits the header list it sends.
    return Response(_SUCCESS, media_type="application/json")


class Edge:
    """The collection API's endpoints and what they share."""

    def __init__(
        self,
        queue: Queue,
        keys: WriteKeys,
        *,
        default_rate_limit: float | None = None,
        public_url: str | None = None,
        trusted_proxies: list[str] | None = None,
    ) -> None:
        self.queue = queue
        self.keys = keys
        self.limiter = RateLimiter()
        self.default_rate_limit = default_rate_limit
        self.public_url = public_url
        self.trusted_proxies = frozenset(trusted_proxies or ())
        self._partitioned = queue.capabilities.partitioned

    def endpoints(self) -> dict[str, tuple[frozenset[str], Endpoint]]:
        """Every ``/v1`` path (without the prefix) → its methods and endpoint."""
        table: dict[str, tuple[frozenset[str], Endpoint]] = {}
        post = frozenset({"POST"})
        for path in ("/batch", "/import", "/b"):
            table[path] = (post, self.batch)
        table["/m"] = (post, self.metrics)
        for short, kind in SHORT_PATHS.items():
            endpoint = self._single(kind)
            table[f"/{kind}"] = (post, endpoint)
            table[f"/{short}"] = (post, endpoint)
        return table

    # -- endpoints --------------------------------------------------------------------------

    def _single(self, kind: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                received = now_ms()
                body = await read_body(request, MAX_EVENT_BYTES)
                parsed = parse_single(body)
                source = self._authorize(request, parsed.writeKey, 1)
                records = single_records(body, parsed, source, kind, received, self._ip(request))
            except EdgeError as err:
                return err.response()
            return await self._publish(records)

        endpoint.__name__ = f"collect_{kind}"
        return endpoint

    async def batch(self, request: Request) -> Response:
        """``/v1/batch``, ``/v1/import`` and analytics.js's ``/v1/b``."""
        try:
            received = now_ms()
            body = await read_body(request, MAX_BATCH_BYTES)
            parsed = parse_batch(body)
            source = self._authorize(request, parsed.writeKey, max(len(parsed.batch), 1))
            records = batch_records(parsed, source, received, self._ip(request), self._partitioned)
        except EdgeError as err:
            return err.response()
        if not records:
            return _ok()
        return await self._publish(records)

    async def metrics(self, request: Request) -> Response:
        """analytics.js telemetry; accepted so the SDK does not retry, not stored."""
        try:
            await read_body(request, MAX_BATCH_BYTES)
        except EdgeError as err:
            return err.response()
        return _ok()

    async def settings(self, request: Request, write_key: str) -> Response:
        """The settings document the SDKs load at start."""
        source = self.keys.lookup(write_key)
        if source is None:
            return EdgeError(404, "unknown_write_key", "no source has this write key").response()
        base = self.public_url or str(request.base_url)
        return JSONResponse(settings_document(write_key, base))

    # -- shared steps -------------------------------------------------------------------------

    def _authorize(self, request: Request, body_key: object, count: int) -> SourceKey:
        write_key = _basic_user(request.headers.get("authorization"))
        if write_key is None and isinstance(body_key, str):
            write_key = body_key
        if not write_key:
            raise EdgeError(
                401,
                "missing_write_key",
                "send the source's write key as the Basic-auth user name or as 'writeKey'",
            )
        source = self.keys.lookup(write_key)
        if source is None:
            raise EdgeError(401, "invalid_write_key", "no source has this write key")
        if not source.enabled:
            raise EdgeError(401, "source_disabled", "the source of this write key is disabled")
        rate = source.rate_limit if source.rate_limit is not None else self.default_rate_limit
        wait = self.limiter.check(source.id, rate, count)
        if wait:
            raise EdgeError(
                429,
                "rate_limited",
                f"this source accepts {rate:g} events per second; retry in {wait} s",
                {"Retry-After": str(wait), "X-RateLimit-Reset": str(wait)},
            )
        return source

    def _ip(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        if peer in self.trusted_proxies:
            forwarded = request.headers.get("x-forwarded-for", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return peer

    async def _publish(self, records: list[tuple[str, bytes]]) -> Response:
        try:
            await self.queue.publish(records)
        except Exception:
            # The events are not durable, so the client must retry: 503, not 200.
            log.exception("queue publish failed")
            return JSONResponse(
                {"code": "unavailable", "message": "events could not be stored; retry later"},
                503,
                headers={"Retry-After": "5"},
            )
        return _ok()


def _basic_user(header: str | None) -> str | None:
    """The user name of a ``Basic`` header (the colon is optional, as legacy SDKs omit it)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None
