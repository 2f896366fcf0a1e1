"""The base of every HTTP vendor adapter: the shared session, one reading of answers.

An adapter subclasses :class:`VendorClient`, builds its vendor's request and returns
``await self.request(...)``: the answer becomes a delivery :class:`Outcome` the same way
for every vendor (2xx delivered; 429, 408, 5xx and network errors retried; other 4xx
refused for good). Vendors that accept a batch but refuse some of its payloads pass a
``refusals`` reader naming them by index; those alone are dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Self

from shoal.destinations.base import Context, Outcome, outcome_of
from shoal.destinations.http import Answer, HttpClient

Refusals = Callable[[Answer], Mapping[int, str]]
"""Reads which payloads of a batch an answer refused (``{index: reason}``)."""


def indexed_refusals(
    body: str, key: str, reason: Callable[[dict[str, Any]], str]
) -> dict[int, str]:
    """``{index: reason}`` for the objects a JSON answer lists under ``key`` with an
    ``index`` (Braze's ``errors``, Mixpanel's ``failed_records``); empty otherwise."""
    try:
        items = json.loads(body).get(key) or []
        return {int(item["index"]): reason(item) for item in items if "index" in item}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


class VendorClient:
    """An adapter's client: its settings and the shared HTTP session."""

    def __init__(self, settings: Any, http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    @classmethod
    async def create(cls, settings: Any, context: Context) -> Self:
        """The factory's ``create``: a client for validated settings."""
        return cls(settings, context.http)

    async def request(
        self, method: str, url: str, refusals: Refusals | None = None, **kwargs: Any
    ) -> Outcome:
        """Send one request (``HttpClient.request`` arguments) and read its answer."""
        answer = await self.http.request(method, url, **kwargs)
        return outcome_of(answer, refusals(answer) if refusals is not None else None)

    async def close(self) -> None:
        """Nothing to release: the HTTP session is shared."""
