"""Membership changes as events: what destinations and automations receive.

Like Segment Engage, each user who enters or exits an audience gets an identify call that
sets the boolean trait named after the audience (its key) and an ``Audience Entered`` /
``Audience Exited`` track call. They are queued like received events, from the space's
"Audiences" source (created on first use, connectable to destinations like any source), so
they pass through the same pipeline: stored, shown in the debugger, delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from shoal.audiences.members import MembershipStore
from shoal.audiences.model import USERS
from shoal.audiences.repo import Audience
from shoal.control.repo import ControlPlane
from shoal.queue import Queue
from shoal.spec.envelope import ENVELOPE_ENCODER, Envelope

log = logging.getLogger("shoal.audiences")
_ENCODE = msgspec.json.Encoder().encode
SOURCE_TYPE = "audiences"
SOURCE_NAME = "Audiences"
_CHUNK = 1000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def messages(
    audience: Audience, pk: int, entering: bool, ids: dict[str, str], at: int
) -> list[dict[str, Any]]:
    """The identify and track calls announcing one change (none without a user id or an
    anonymous id to address them to)."""
    who: dict[str, str] = {}
    if "user_id" in ids:
        who["userId"] = ids["user_id"]
    if "anonymous_id" in ids:
        who["anonymousId"] = ids["anonymous_id"]
    if not who:
        return []
    change = "entered" if entering else "exited"
    base = f"aud-{audience.id}-v{audience.version}-{pk}-{change}-{at}"
    context = {"library": {"name": "shoal-audiences", "version": "1"}}
    common = {**who, "timestamp": _iso(at), "context": context}
    return [
        {
            "type": "identify",
            "messageId": base + "-identify",
            "traits": {audience.key: entering},
            **common,
        },
        {
            "type": "track",
            "messageId": base,
            "event": "Audience Entered" if entering else "Audience Exited",
            "properties": {
                "audience_key": audience.key,
                "audience_name": audience.name,
                "audience_id": audience.id,
                "audience_version": audience.version,
                audience.key: entering,
            },
            **common,
        },
    ]


class Emitter:
    """Turns membership changes into queued events; see the module docstring."""

    def __init__(self, control: ControlPlane, queue: Queue, members: MembershipStore) -> None:
        self.control = control
        self.queue = queue
        self.members = members
        self._sources: dict[tuple[str, str], str] = {}
        self.emitted = 0
        self.unaddressable = 0

    def source_id(self, workspace_id: str, environment: str) -> str:
        """The space's "Audiences" source (created on first use)."""
        key = (workspace_id, environment)
        found = self._sources.get(key)
        if found is None:
            for source in self.control.list_sources(workspace_id, environment):
                if source.type == SOURCE_TYPE:
                    found = source.id
                    break
            else:
                found = self.control.create_source(
                    workspace_id, SOURCE_NAME, SOURCE_TYPE, environment
                ).id
            self._sources[key] = found
        return found

    async def emit(
        self, audience: Audience, entered: Sequence[int], exited: Sequence[int], at: int
    ) -> int:
        """Queue the events of a refresh's changes; returns how many were queued."""
        if not audience.emit_events or audience.collection != USERS:
            return 0
        source_id = await asyncio.to_thread(
            self.source_id, audience.workspace_id, audience.environment
        )
        changes = [(pk, True) for pk in entered] + [(pk, False) for pk in exited]
        count = 0
        for start in range(0, len(changes), _CHUNK):
            chunk = changes[start : start + _CHUNK]
            ids = await self.members.identifiers([pk for pk, _ in chunk])
            records: list[tuple[str, bytes]] = []
            for pk, entering in chunk:
                found = messages(audience, pk, entering, ids.get(pk, {}), at)
                if not found:
                    self.unaddressable += 1
                    log.warning(
                        "profile %s of audience %s has no user or anonymous id: its change "
                        "is in the history but was not sent",
                        pk,
                        audience.key,
                    )
                for message in found:
                    envelope = Envelope(
                        source_id=source_id,
                        workspace_id=audience.workspace_id,
                        environment=audience.environment,
                        received_at=at,
                        request_id=f"aud-{audience.id}-{at}-{start}",
                        index=len(records),
                        message=msgspec.Raw(_ENCODE(message)),
                    )
                    key = str(message.get("userId") or message.get("anonymousId"))
                    records.append((key, ENVELOPE_ENCODER.encode(envelope)))
            if records:
                await self.queue.publish(records)
                count += len(records)
        self.emitted += count
        return count
