"""The checklist that checks itself: what really arrived for each suggested event.

For every planned event and each environment (dev, then prod): how many arrived, from
which of the setup's sources, when last, which planned properties were missing and how
often, which had the wrong type (from the violations the plan stage stored), and whether
the latest one was clean. Computed with read-only SQL over the event store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shoal.control import Source
from shoal.plans.model import PlanEvent
from shoal.store import EventStore

ENVIRONMENTS = ("dev", "prod")
_PROBLEMS = ("invalid_type", "invalid_format", "invalid_property")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _json_path(name: str) -> str:
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _match(event: PlanEvent) -> tuple[str, list[object]]:
    if event.call == "track":
        return "type = 'track' AND event = ?", [event.name]
    return "type = ?", [event.call]


class ProgressQuery:
    """Runs the progress queries for one set of sources."""

    def __init__(self, store: EventStore, workspace_id: str, sources: Sequence[Source]) -> None:
        self.store = store
        self.workspace_id = workspace_id
        self.sources = {s.id: s for s in sources}
        marks = ", ".join("?" for _ in self.sources)
        self.scope = f"workspace_id = ? AND source_id IN ({marks})"
        self.params: list[object] = [workspace_id, *self.sources]

    async def counts(self) -> list[tuple[Any, ...]]:
        """Per environment, source, call and name: count, rejected, last seen, last status."""
        return await self.store.query(
            "SELECT environment, source_id, type, event, count(*), "
            "count(*) FILTER (WHERE status = 'rejected'), max(received_at), "
            "arg_max(coalesce(violations, '[]'::JSON), id) "
            f"FROM events WHERE {self.scope} AND type IN ('track', 'page', 'screen') "
            "GROUP BY ALL",
            self.params,
        )

    async def missing(self, event: PlanEvent) -> dict[str, dict[str, int]]:
        """Per environment: how many events lacked each planned property (or had null)."""
        if not event.properties:
            return {}
        where, params = _match(event)
        columns = ", ".join(
            "count(*) FILTER (WHERE coalesce(json_type(properties, ?), 'NULL') = 'NULL')"
            for _ in event.properties
        )
        paths = [_json_path(p.name) for p in event.properties]
        rows = await self.store.query(
            f"SELECT environment, {columns} FROM events WHERE {self.scope} AND {where} "
            "GROUP BY environment",
            [*paths, *self.params, *params],
        )
        return {
            row[0]: {p.name: int(n) for p, n in zip(event.properties, row[1:], strict=True) if n}
            for row in rows
        }

    async def violations(self) -> list[tuple[Any, ...]]:
        """Per environment, call, name, violation type, property, version: how many."""
        return await self.store.query(
            "SELECT environment, type, event, v->>'type', v->>'property', v->>'expected', "
            "TRY_CAST(v->>'plan_version' AS INTEGER), count(*) FROM ("
            "SELECT environment, type, event, unnest(from_json(violations, '[\"JSON\"]')) AS v "
            f"FROM events WHERE {self.scope} AND violations IS NOT NULL) GROUP BY ALL",
            self.params,
        )


def _add_source(seen: list[dict[str, Any]], source: Source, count: int, last: datetime) -> None:
    """Count events per source (page and screen calls come in one group per page name)."""
    for item in seen:
        if item["id"] == source.id:
            item["count"] += count
            item["last_seen"] = max(item["last_seen"], _iso(last) or "")
            return
    seen.append({"id": source.id, "name": source.name, "count": count, "last_seen": _iso(last)})


def _empty() -> dict[str, Any]:
    return {
        "status": "not_seen",
        "count": 0,
        "rejected": 0,
        "last_seen": None,
        "sources": [],
        "missing_properties": [],
        "invalid_properties": [],
        "latest_violations": [],
    }


async def event_progress(
    store: EventStore,
    workspace_id: str,
    events: Sequence[PlanEvent],
    sources: Sequence[Source],
    plan_version: int | None = None,
) -> dict[str, Any]:
    """Report, per planned event and environment, what really arrived from ``sources``.

    Args:
        store: The event store.
        workspace_id: The workspace of the sources.
        events: The planned (suggested) events.
        sources: The setup's dev and prod sources.
        plan_version: Count type violations recorded under this plan version only.

    Returns:
        ``{"events": [{"name", "call", "dev": {...}, "prod": {...}}], "unplanned_events":
        {"dev": [...], "prod": [...]}, "dev_ready": bool, "prod_live": bool}``.
    """
    report: list[dict[str, Any]] = [
        {"name": e.name, "call": e.call, **{env: _empty() for env in ENVIRONMENTS}} for e in events
    ]
    unplanned: dict[str, list[dict[str, Any]]] = {env: [] for env in ENVIRONMENTS}
    if sources:
        query = ProgressQuery(store, workspace_id, sources)
        latest_at: dict[tuple[int, str], datetime] = {}
        index = {(e.call, e.name if e.call == "track" else None): i for i, e in enumerate(events)}
        for env, source_id, call, name, count, rejected, last, latest in await query.counts():
            key = (call, name if call == "track" else None)
            if key not in index:
                if call == "track":
                    unplanned[env].append({"name": name, "count": count, "last_seen": _iso(last)})
                continue
            entry = report[index[key]][env]
            entry["count"] += count
            entry["rejected"] += rejected
            _add_source(entry["sources"], query.sources[source_id], count, last)
            newest = latest_at.get((index[key], env))
            if newest is None or last > newest:
                latest_at[(index[key], env)] = last
                entry["last_seen"] = _iso(last)
                entry["latest_violations"] = json.loads(latest) if latest else []
        for i, event in enumerate(events):
            for env, counts in (await query.missing(event)).items():
                report[i][env]["missing_properties"] = [
                    {"property": p, "events": n} for p, n in counts.items()
                ]
        for env, call, name, kind, prop, expected, version, n in await query.violations():
            key = (call, name if call == "track" else None)
            if kind not in _PROBLEMS or key not in index:
                continue
            if plan_version is not None and version != plan_version:
                continue
            report[index[key]][env]["invalid_properties"].append(
                {"property": prop, "expected": expected, "problem": kind, "events": n}
            )
    for item in report:
        for env in ENVIRONMENTS:
            entry = item[env]
            if entry["count"]:
                entry["status"] = "problems" if entry["latest_violations"] else "ok"
    return {
        "events": report,
        "unplanned_events": unplanned,
        "dev_ready": bool(report) and all(r["dev"]["status"] == "ok" for r in report),
        "prod_live": bool(report) and all(r["prod"]["count"] > 0 for r in report),
    }
