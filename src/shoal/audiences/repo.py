"""Audience definitions, their versions and object collections in the control plane."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from shoal.control import tables as t
from shoal.control.repo import Conflict, ControlPlane, NotFound

REFRESH_MODES = ("realtime", "scheduled")
DEFAULT_INTERVAL_S = 4 * 3600
MIN_INTERVAL_S = 60


@dataclass
class Audience:
    """An audience as stored: its current definition and the cached result of its last
    refresh."""

    id: str
    workspace_id: str
    environment: str
    key: str
    name: str
    description: str
    collection: str
    definition: dict[str, Any]
    version: int
    refresh: str
    interval_s: int
    emit_events: bool
    hidden_from: list[str]
    status: str
    error: str | None
    size: int | None
    computed_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """One saved definition of an audience."""

    version: int
    definition: dict[str, Any]
    text: str
    created_by: str | None
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class _Row:
    """A plain mapping dressed as a result row (``_audience`` reads ``_mapping``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


def _audience(row: Any) -> Audience:
    values = dict(row._mapping)
    for key in ("computed_at", "created_at", "updated_at"):
        if values[key] is not None and values[key].tzinfo is None:
            values[key] = values[key].replace(tzinfo=UTC)
    return Audience(**values)


class AudienceRepo:
    """Reads and writes the audience rows of the control plane."""

    def __init__(self, control: ControlPlane) -> None:
        self.engine = control.engine

    def create(self, values: dict[str, Any], text: str) -> Audience:
        """Insert an audience at version 1 (``Conflict`` if its key is taken)."""
        now = _now()
        row = {
            "id": "aud_" + secrets.token_hex(8),
            "version": 1,
            "status": "pending",
            "error": None,
            "size": None,
            "computed_at": None,
            "created_at": now,
            "updated_at": now,
            **values,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.audiences).values(**row))
                conn.execute(
                    insert(t.audience_versions).values(
                        audience_id=row["id"],
                        version=1,
                        definition=row["definition"],
                        text=text,
                        created_by=row.get("created_by"),
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"An audience with the key {values['key']!r} already exists.") from None
        return self.get(row["workspace_id"], row["id"])

    def update(
        self, audience: Audience, values: dict[str, Any], text: str | None, user_id: str | None
    ) -> Audience:
        """Change an audience; a new definition becomes a new version."""
        now = _now()
        values = {**values, "updated_at": now}
        with self.engine.begin() as conn:
            if text is not None:
                values["version"] = audience.version + 1
                values["status"] = "pending"
                conn.execute(
                    insert(t.audience_versions).values(
                        audience_id=audience.id,
                        version=values["version"],
                        definition=values["definition"],
                        text=text,
                        created_by=user_id,
                        created_at=now,
                    )
                )
            conn.execute(
                update(t.audiences).where(t.audiences.c.id == audience.id).values(**values)
            )
        return self.get(audience.workspace_id, audience.id)

    def get(self, workspace_id: str, audience_id: str) -> Audience:
        """An audience by id or key (``NotFound`` otherwise)."""
        a = t.audiences
        query = select(a).where(
            a.c.workspace_id == workspace_id, (a.c.id == audience_id) | (a.c.key == audience_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise NotFound(f"Audience was not found: {audience_id!r}.")
        # A key may exist in dev and prod; an id is unique. Prefer the exact id.
        chosen = next((r for r in rows if r.id == audience_id), rows[0])
        audience = _audience(chosen)
        audience.text = self.text_of(audience.id, audience.version)
        return audience

    def by_key(self, workspace_id: str, environment: str, key: str) -> Audience | None:
        """The audience of a space with ``key``, if any."""
        a = t.audiences
        query = select(a).where(
            a.c.workspace_id == workspace_id, a.c.environment == environment, a.c.key == key
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _audience(row)

    def all(
        self, workspace_id: str | None = None, environment: str | None = None
    ) -> list[Audience]:
        """Audiences, oldest first (every workspace when ``workspace_id`` is ``None``)."""
        a = t.audiences
        conds = []
        if workspace_id is not None:
            conds.append(a.c.workspace_id == workspace_id)
        if environment is not None:
            conds.append(a.c.environment == environment)
        v = t.audience_versions
        joined = a.outerjoin(v, and_(v.c.audience_id == a.c.id, v.c.version == a.c.version))
        query = select(a, v.c.text.label("current_text")).select_from(joined)
        if conds:
            query = query.where(*conds)
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(query.order_by(a.c.created_at, a.c.id)):
                values = dict(row._mapping)
                text = values.pop("current_text")
                audience = _audience(_Row(values))
                audience.text = text or ""
                out.append(audience)
        return out

    def delete(self, audience: Audience) -> None:
        """Remove an audience and its versions."""
        with self.engine.begin() as conn:
            conn.execute(
                t.audience_versions.delete().where(t.audience_versions.c.audience_id == audience.id)
            )
            conn.execute(t.audiences.delete().where(t.audiences.c.id == audience.id))

    def text_of(self, audience_id: str, version: int) -> str:
        """The text form saved with a version."""
        v = t.audience_versions
        query = select(v.c.text).where(v.c.audience_id == audience_id, v.c.version == version)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return "" if row is None else str(row[0])

    def versions(self, audience_id: str) -> list[Version]:
        """Every saved definition, oldest first."""
        v = t.audience_versions
        query = (
            select(v.c.version, v.c.definition, v.c.text, v.c.created_by, v.c.created_at)
            .where(v.c.audience_id == audience_id)
            .order_by(v.c.version)
        )
        with self.engine.connect() as conn:
            return [Version(*row) for row in conn.execute(query)]

    def record_refresh(
        self, audience_id: str, *, status: str, error: str | None, size: int | None
    ) -> None:
        """Store a refresh's outcome (the size and time only when it succeeded)."""
        values: dict[str, Any] = {"status": status, "error": error}
        if size is not None:
            values.update(size=size, computed_at=_now())
        with self.engine.begin() as conn:
            conn.execute(
                update(t.audiences).where(t.audiences.c.id == audience_id).values(**values)
            )

    # -- object collections --------------------------------------------------------------

    def object_collections(self, workspace_id: str, environment: str) -> dict[str, str]:
        """Object collection name → the event property that carries an object's id."""
        o = t.object_collections
        query = select(o.c.name, o.c.id_property).where(
            o.c.workspace_id == workspace_id, o.c.environment == environment
        )
        with self.engine.connect() as conn:
            return {name: prop for name, prop in conn.execute(query)}

    def save_collection(self, workspace_id: str, environment: str, name: str, prop: str) -> None:
        """Declare (or change the id property of) an object collection."""
        o = t.object_collections
        where = (o.c.workspace_id == workspace_id, o.c.environment == environment, o.c.name == name)
        with self.engine.begin() as conn:
            if not conn.execute(update(o).where(*where).values(id_property=prop)).rowcount:
                conn.execute(
                    insert(o).values(
                        workspace_id=workspace_id,
                        environment=environment,
                        name=name,
                        id_property=prop,
                        created_at=_now(),
                    )
                )


__all__ = ["Audience", "AudienceRepo", "Conflict", "NotFound", "Version"]
