"""``/api/v1/me``, ``/api/v1/workspace`` and ``/api/v1/status``."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from shoal import __version__
from shoal.pipeline.runner import GROUP
from shoal.web.api.deps import RuntimeDep, UserDep

router = APIRouter(tags=["workspace"])


@router.get("/me")
def me(user: UserDep) -> dict[str, Any]:
    """The signed-in user."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "workspace_id": user.workspace_id,
    }


@router.get("/workspace")
def workspace(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """The workspace and its two environments."""
    ws = runtime.control.workspace(user.workspace_id)
    return {"id": ws.id, "name": ws.name, "environments": ["dev", "prod"]}


@router.get("/status")
async def status(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """How the pipeline is doing: queue lag, stored/rejected/duplicate counts, last error."""
    lag = await runtime.queue.lag(GROUP)
    stored = await runtime.store.count()
    del user
    return {
        "version": __version__,
        "queue": {"lag": lag, "durable": runtime.queue.capabilities.durable},
        "store": {"events": stored, "dialect": runtime.store.capabilities.dialect},
        "pipeline": asdict(runtime.pipeline.stats),
        "ready": runtime.ready,
        "tasks": len(asyncio.all_tasks()),
    }
