"""Test sends: one event through a destination's mappings (not its filters), right now,
with each action's payload and the vendor's answer (``POST /destinations/{id}/test``)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shoal.destinations.base import Context, DestinationFactory
from shoal.destinations.engine import build_plan
from shoal.destinations.repo import Destination


def sample_event() -> dict[str, Any]:
    """The event ``test`` sends when none is given."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": "track",
        "event": "Test Event Sent",
        "messageId": f"test-{uuid.uuid4()}",
        "userId": "test-user",
        "anonymousId": "test-anonymous-id",
        "properties": {"source": "shoal destination test", "value": 1},
        "traits": {"email": "test@example.com", "phone": "+15555550100", "name": "Test User"},
        "context": {"traits": {"email": "test@example.com", "phone": "+15555550100"}},
        "timestamp": now,
        "receivedAt": now,
        "sentAt": now,
    }


async def probe(
    adapter: DestinationFactory,
    destination: Destination,
    settings: BaseModel,
    context: Context,
    message: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Send ``message`` (or a sample) once per triggered action; report each answer."""
    payloads = build_plan(adapter, destination).mapper.map(message or sample_event())
    client = await adapter.create(settings, context)
    results = []
    try:
        for action, payload in payloads:
            started = time.monotonic()
            outcome = await client.send(action, [payload])
            results.append(
                {
                    "action": action,
                    "payload": payload,
                    "ok": outcome.ok,
                    "status": outcome.status,
                    "error": outcome.error,
                    "response": outcome.body,
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
    finally:
        await client.close()
    return results
