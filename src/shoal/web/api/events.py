"""The debugger feed: stored events of a source, as a page or as a live stream (SSE)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from shoal.runtime import Runtime
from shoal.spec.normalize import REJECT_REASONS
from shoal.store import EventQuery, StoredEvent
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(prefix="/sources/{source_id}/events", tags=["debugger"])
_KEEPALIVE = 15.0
_ENCODE = msgspec.json.Encoder().encode


def event_view(stored: StoredEvent) -> dict[str, Any]:
    """The message as stored, with Shoal's ``id``, ``status``, ``reason`` and ``violations``."""
    reason = None
    if stored.reason is not None:
        text = REJECT_REASONS.get(stored.reason, stored.reason)
        reason = {"code": stored.reason, "message": text}
    return {
        **stored.message,
        "id": stored.id,
        "status": stored.status,
        "reason": reason,
        "violations": stored.violations or [],
    }


class EventPage(BaseModel):
    events: list[dict[str, Any]]


def _query(
    source_id: str,
    limit: int,
    status: str | None,
    type_: list[str] | None,
    event: str | None,
    **cursor: int | None,
) -> EventQuery:
    return EventQuery(
        source_id=source_id,
        limit=limit,
        status=status,
        types=tuple(type_ or ()),
        event=event,
        **cursor,
    )


@router.get("", response_model=EventPage)
async def list_events(
    source_id: str,
    runtime: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: int | None = None,
    status: Literal["accepted", "rejected"] | None = None,
    type: Annotated[list[str] | None, Query()] = None,
    event: str | None = None,
) -> EventPage:
    """Stored events of a source, newest first; page back with ``before_id``."""
    await asyncio.to_thread(runtime.control.get_source, user.workspace_id, source_id)
    query = _query(source_id, limit, status, type, event, before_id=before_id)
    stored = await runtime.store.events(query)
    return EventPage(events=[event_view(s) for s in stored])


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    source_id: str,
    request: Request,
    runtime: RuntimeDep,
    user: UserDep,
    backlog: Annotated[int, Query(ge=0, le=500)] = 0,
    after_id: int | None = None,
    status: Literal["accepted", "rejected"] | None = None,
    type: Annotated[list[str] | None, Query()] = None,
    event: str | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: each stored event as it arrives (``event: message``).

    Starts after ``after_id`` (or the ``Last-Event-ID`` a reconnecting browser sends);
    otherwise with the newest ``backlog`` events, then everything new.
    """
    await asyncio.to_thread(runtime.control.get_source, user.workspace_id, source_id)
    if after_id is None and last_event_id and last_event_id.isdigit():
        after_id = int(last_event_id)
    if after_id is None:
        newest = await runtime.store.events(EventQuery(source_id=source_id, limit=max(backlog, 1)))
        # Start just before the oldest backlog event, or after the newest one.
        after_id = (newest[-1].id - 1 if backlog else newest[0].id) if newest else 0
    if runtime.stopping.is_set():
        raise ApiError(503, "stopping", "the server is shutting down")
    query = _query(source_id, 500, status, type, event, after_id=after_id)
    return StreamingResponse(
        _stream(runtime, request, query),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(runtime: Runtime, request: Request, query: EventQuery) -> AsyncIterator[bytes]:
    assert query.source_id is not None
    wake = runtime.hub.subscribe(query.source_id)
    last = query.after_id or 0
    try:
        yield b"retry: 2000\n\n"
        while not runtime.stopping.is_set():
            wake.clear()
            batch = await runtime.store.events(
                EventQuery(
                    source_id=query.source_id,
                    limit=query.limit,
                    after_id=last,
                    status=query.status,
                    types=query.types,
                    event=query.event,
                )
            )
            for stored in batch:
                last = stored.id
                data = _ENCODE(event_view(stored))
                yield b"id: %d\nevent: message\ndata: %s\n\n" % (stored.id, data)
            if len(batch) == query.limit:
                continue
            if await request.is_disconnected():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), _KEEPALIVE)
            if not wake.is_set():
                yield b": keepalive\n\n"
    finally:
        runtime.hub.unsubscribe(query.source_id, wake)
