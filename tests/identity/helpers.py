"""Build identity fixtures: a started DuckDB store with the identity service, and events."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from shoal.control import ControlPlane
from shoal.control import tables as t
from shoal.identity import IdentityService
from shoal.spec.normalize import NormalizedEvent
from shoal.store.duckdb import DuckDBStore

WS = "ws_test"
_ids = itertools.count(1)


def event(
    type: str,
    *,
    ts: int = 1_700_000_000_000,
    env: str = "dev",
    source: str = "src_web",
    message_id: str | None = None,
    **fields: Any,
) -> NormalizedEvent:
    """A normalized, accepted event as the pipeline hands it to stages."""
    message = {"type": type, **fields}
    message.setdefault("context", {})
    mid = message_id or f"m{next(_ids)}"
    message["messageId"] = mid
    name = fields.get("event") if type == "track" else fields.get("name")
    return NormalizedEvent(
        source_id=source,
        workspace_id=WS,
        environment=env,
        message_id=mid,
        type=type,
        status="accepted",
        reason=None,
        received_at=ts,
        timestamp=ts,
        message=message,
        event=name,
        user_id=fields.get("userId"),
        anonymous_id=fields.get("anonymousId"),
        group_id=fields.get("groupId"),
    )


def spec_fields(
    spec: dict[str, Any],
    trait_keys: tuple[str, ...],
    name: str = "Thing",
    context_traits: bool = True,
) -> dict[str, Any]:
    """The message fields of a generated spec (``type``, ``userId``, ``anonymousId``, trait
    values, ``group``): traits on identify and group calls, else (with ``context_traits``)
    in ``context.traits`` of a track or page named ``name``."""
    fields: dict[str, Any] = {"anonymousId": spec["anonymousId"]}
    if spec["userId"]:
        fields["userId"] = spec["userId"]
    traits = {k: spec[k] for k in trait_keys if spec[k]}
    if spec["type"] in ("identify", "group"):
        fields["traits"] = traits
    else:
        if context_traits:
            fields["context"] = {"traits": traits}
        fields["event" if spec["type"] == "track" else "name"] = name
    if spec["type"] == "group":
        fields["groupId"] = spec["group"]
    return fields


@asynccontextmanager
async def identity(tmp: Path) -> AsyncIterator[IdentityService]:
    """A real DuckDB store and control plane in ``tmp`` with a started identity service."""
    control = ControlPlane(f"sqlite:///{tmp / 'control.db'}")
    control.migrate()
    with control.engine.begin() as conn:
        if conn.execute(t.workspaces.select().where(t.workspaces.c.id == WS)).first() is None:
            conn.execute(insert(t.workspaces).values(id=WS, name="t", created_at=datetime.now(UTC)))
    store = DuckDBStore(tmp / "events.duckdb")
    await store.start()
    service = IdentityService(control, store)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await store.close()
        control.engine.dispose()
