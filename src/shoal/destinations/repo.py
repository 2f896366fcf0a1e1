"""Destination instances and their connected sources, in the control plane.

Settings are split on the way in: plain fields stay readable in ``settings``, secret fields
(``SecretStr`` in the adapter's settings model) are sealed together into ``secrets``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shoal.control import tables as t
from shoal.control.repo import Conflict, ControlPlane, NotFound
from shoal.control.secrets import new_id
from shoal.destinations.crypto import SecretBox


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination instance as stored (secrets stay sealed)."""

    id: str
    workspace_id: str
    name: str
    type: str
    environment: str
    enabled: bool
    settings: dict[str, Any]
    secrets: str | None
    filters: list[dict[str, Any]]
    mappings: list[dict[str, Any]]
    max_in_flight: int
    created_at: datetime
    updated_at: datetime
    source_ids: tuple[str, ...] = ()


def _now() -> datetime:
    return datetime.now(UTC)


class DestinationRepo:
    """CRUD for destinations and their connections."""

    def __init__(self, control: ControlPlane, box: SecretBox) -> None:
        self.engine = control.engine
        self.box = box

    def _sources(self, conn: Any, ids: list[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {i: [] for i in ids}
        query = (
            select(t.destination_sources.c.destination_id, t.destination_sources.c.source_id)
            .where(t.destination_sources.c.destination_id.in_(ids))
            .order_by(t.destination_sources.c.connected_at)
        )
        for dest_id, source_id in conn.execute(query):
            out[dest_id].append(source_id)
        return {k: tuple(v) for k, v in out.items()}

    def list_all(
        self, workspace_id: str | None, environment: str | None = None
    ) -> list[Destination]:
        """Destinations of a workspace (all workspaces when ``None``), oldest first."""
        query = select(t.destinations).order_by(t.destinations.c.created_at, t.destinations.c.id)
        if workspace_id is not None:
            query = query.where(t.destinations.c.workspace_id == workspace_id)
        if environment is not None:
            query = query.where(t.destinations.c.environment == environment)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
            sources = self._sources(conn, [r["id"] for r in rows])
        return [Destination(**r, source_ids=sources[r["id"]]) for r in rows]

    def get(self, workspace_id: str | None, destination_id: str) -> Destination:
        """One destination; ``NotFound`` if it is not in the workspace."""
        query = select(t.destinations).where(t.destinations.c.id == destination_id)
        if workspace_id is not None:
            query = query.where(t.destinations.c.workspace_id == workspace_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                raise NotFound(f"destination {destination_id} does not exist in this workspace")
            sources = self._sources(conn, [destination_id])
        return Destination(**row, source_ids=sources[destination_id])

    def create(
        self,
        workspace_id: str,
        *,
        name: str,
        type: str,
        environment: str,
        enabled: bool,
        settings: dict[str, Any],
        secrets: dict[str, str],
        filters: list[dict[str, Any]],
        mappings: list[dict[str, Any]],
        max_in_flight: int,
        cursor: int,
    ) -> Destination:
        """Store a new destination whose delivery starts after event ``cursor``."""
        now = _now()
        dest_id = new_id("dst")
        values = {
            "id": dest_id,
            "workspace_id": workspace_id,
            "name": name,
            "type": type,
            "environment": environment,
            "enabled": enabled,
            "settings": settings,
            "secrets": self.box.seal(secrets) if secrets else None,
            "filters": filters,
            "mappings": mappings,
            "max_in_flight": max_in_flight,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.destinations).values(**values))
                conn.execute(
                    insert(t.destination_state).values(
                        destination_id=dest_id,
                        cursor=cursor,
                        delivered=0,
                        failed=0,
                        filtered=0,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(
                f"a {environment} destination named {name!r} already exists in this workspace"
            ) from exc
        return self.get(workspace_id, dest_id)

    def update(
        self, workspace_id: str, destination_id: str, changes: dict[str, Any]
    ) -> Destination:
        """Apply changes (``secrets`` given as a plain dict is sealed here)."""
        self.get(workspace_id, destination_id)
        values = dict(changes)
        if "secrets" in values:
            values["secrets"] = self.box.seal(values["secrets"]) if values["secrets"] else None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.destinations)
                    .where(t.destinations.c.id == destination_id)
                    .values(**values, updated_at=_now())
                )
        except IntegrityError as exc:
            raise Conflict("another destination in that environment has this name") from exc
        return self.get(workspace_id, destination_id)

    def delete(self, workspace_id: str, destination_id: str) -> None:
        """Delete a destination and all its delivery state."""
        self.get(workspace_id, destination_id)
        with self.engine.begin() as conn:
            for table in (
                t.destination_replays,
                t.destination_dead_letters,
                t.destination_ledger,
                t.destination_state,
                t.destination_sources,
            ):
                conn.execute(delete(table).where(table.c.destination_id == destination_id))
            conn.execute(delete(t.destinations).where(t.destinations.c.id == destination_id))

    def connect(self, destination_id: str, source_id: str) -> None:
        """Connect a source (idempotent)."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(t.destination_sources.c.source_id).where(
                    t.destination_sources.c.destination_id == destination_id,
                    t.destination_sources.c.source_id == source_id,
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(t.destination_sources).values(
                        destination_id=destination_id, source_id=source_id, connected_at=_now()
                    )
                )

    def disconnect(self, destination_id: str, source_id: str) -> None:
        """Disconnect a source (idempotent)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.destination_sources).where(
                    t.destination_sources.c.destination_id == destination_id,
                    t.destination_sources.c.source_id == source_id,
                )
            )

    def connected_count(self, workspace_id: str) -> int:
        """Enabled destinations of a workspace that have at least one source connected."""
        query = (
            select(t.destinations.c.id)
            .join(
                t.destination_sources, t.destination_sources.c.destination_id == t.destinations.c.id
            )
            .where(
                t.destinations.c.workspace_id == workspace_id, t.destinations.c.enabled.is_(True)
            )
            .distinct()
        )
        with self.engine.connect() as conn:
            return len(conn.execute(query).all())
