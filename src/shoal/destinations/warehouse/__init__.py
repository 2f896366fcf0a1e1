"""Warehouse destinations: events, identifies and profiles as tables (DuckDB, PostgreSQL).

Three tables, created on first use:

* ``events``: one row per track, page, screen, group and alias call;
* ``identifies``: one row per identify call;
* ``profiles``: one row per user (``user_id``, else ``anonymous_id``) with the traits of
  all its identifies merged, newest last, and first/last seen times.

Rows are keyed by ``message_id`` and inserted with ``ON CONFLICT DO NOTHING``, so a retry
or replay never duplicates a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from shoal.destinations.base import Action
from shoal.destinations.vendor import parse_time

_ENCODE = msgspec.json.Encoder().encode
EVENT_TYPES = ("track", "page", "screen", "group", "alias")

ACTIONS = (
    Action(
        name="events",
        title="Store events",
        trigger={
            "match": "any",
            "conditions": [{"field": "type", "op": "in", "value": list(EVENT_TYPES)}],
        },
        fields=None,
        description="track, page, screen, group and alias calls into the events table.",
    ),
    Action(
        name="identifies",
        title="Store identifies and profiles",
        trigger={
            "match": "all",
            "conditions": [{"field": "type", "op": "is", "value": "identify"}],
        },
        fields=None,
        description="identify calls into identifies; their traits merged into profiles.",
    ),
)


def _json(value: Any) -> str | None:
    return None if value is None else _ENCODE(value).decode()


@dataclass(frozen=True, slots=True)
class Rows:
    """A batch split into table rows."""

    events: list[tuple[Any, ...]]
    identifies: list[tuple[Any, ...]]
    profiles: list[tuple[Any, ...]]


EVENT_COLUMNS = (
    "message_id, type, event, name, user_id, anonymous_id, group_id, timestamp, received_at, "
    "properties, context"
)
IDENTIFY_COLUMNS = "message_id, user_id, anonymous_id, timestamp, received_at, traits, context"
PROFILE_COLUMNS = "profile_key, user_id, anonymous_id, traits, first_seen, last_seen"


def rows(action: str, payloads: list[dict[str, Any]]) -> Rows:
    """Table rows for one batch of one action."""
    events, identifies, profiles = [], [], []
    for m in payloads:
        base = (str(m.get("messageId")), m.get("userId"), m.get("anonymousId"))
        stamp, received = parse_time(m.get("timestamp")), parse_time(m.get("receivedAt"))
        if action == "identifies":
            traits = m.get("traits") or {}
            identifies.append((*base, stamp, received, _json(traits), _json(m.get("context"))))
            key = base[1] or base[2]
            if key:
                profiles.append((str(key), base[1], base[2], _json(traits), stamp, stamp))
        else:
            events.append(
                (
                    base[0],
                    m.get("type"),
                    m.get("event"),
                    m.get("name"),
                    base[1],
                    base[2],
                    m.get("groupId"),
                    stamp,
                    received,
                    _json(m.get("properties")),
                    _json(m.get("context")),
                )
            )
    return Rows(events, identifies, profiles)
