"""One shared HTTP client for every destination: timeouts, bounded reads, guarded DNS.

Every request has a total timeout; answers are read up to a byte limit (a vendor that
streams gigabytes back cannot exhaust memory); host names resolve through a resolver that
drops loopback, link-local and private addresses unless the server allows them.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from shoal.destinations.safety import AddressPolicy, UnsafeURL

_RETRY_STATUSES = frozenset({408, 429})


class GuardedResolver(AbstractResolver):
    """DNS that only returns addresses the policy permits (refusing the rest)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and keep only permitted addresses."""
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self.policy.permits(r["host"])]
        if not allowed:
            raise UnsafeURL(f"{host} resolves only to addresses destinations may not reach")
        return allowed

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Answer:
    """A response (or the failure to get one)."""

    status: int | None
    body: str
    headers: Mapping[str, str]
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Segment's rule: 429, 5xx and network errors are retried; other 4xx are not."""
        if self.status is None:
            return self.error is not None and not self.error.startswith("refused:")
        return self.status in _RETRY_STATUSES or self.status >= 500

    def retry_after(self) -> float | None:
        """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
        value = self.headers.get("Retry-After") or self.headers.get("retry-after")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """The shared ``aiohttp`` session; ``request`` never raises for HTTP or network errors."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        timeout: float = 30.0,
        max_body: int = 65536,
        limit: int = 256,
        limit_per_host: int = 32,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_body = max_body
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                resolver=GuardedResolver(self.policy),
                ttl_dns_cache=60,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(10, self.timeout)),
                auto_decompress=True,
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | str | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Answer:
        """Send one request; network errors and timeouts become an ``Answer`` without status."""
        started = time.monotonic()
        try:
            self.policy.check_url(url)
        except UnsafeURL as exc:
            return Answer(None, "", {}, f"refused: {exc}")
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": params}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            kwargs["headers"]["Authorization"] = f"Basic {token}"
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        try:
            async with self.session().request(method, url, **kwargs) as response:
                raw = await response.content.read(self.max_body)
                return Answer(
                    response.status,
                    raw.decode("utf-8", "replace"),
                    dict(response.headers),
                    None,
                    time.monotonic() - started,
                )
        except UnsafeURL as exc:
            return Answer(None, "", {}, f"refused: {exc}", time.monotonic() - started)
        except TimeoutError:
            return Answer(None, "", {}, f"timeout after {self.timeout:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            return Answer(None, "", {}, reason[:500], time.monotonic() - started)

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            # aiohttp recommends a short pause so SSL transports finish closing.
            await asyncio.sleep(0)
            self._session = None
