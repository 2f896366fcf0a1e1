"""The guided-setup row of a workspace (one per workspace) in the control plane.

The ``prod_destinations`` JSON column holds every copy the setup made in prod: the
destination pairs publishing made (``dev_destination_id``/``prod_destination_id``) and the
audience pairs republishing made (``dev_audience_id``/``prod_audience_id``). Both are "a
dev thing and its prod copy", and sharing the list spares a schema migration for one more
list; ``_from_row`` tells them apart by their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from shoal.control import tables as t
from shoal.control.repo import ControlPlane


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PublishedSource:
    """A prod source created from a dev source when publishing."""

    dev_source_id: str
    prod_source_id: str


@dataclass(frozen=True, slots=True)
class PublishedDestination:
    """A prod destination copied from a dev destination when publishing."""

    dev_destination_id: str
    prod_destination_id: str


@dataclass(frozen=True, slots=True)
class PublishedAudience:
    """A prod audience imported from a dev audience when republishing."""

    dev_audience_id: str
    prod_audience_id: str


@dataclass(frozen=True, slots=True)
class SetupRecord:
    """Where a workspace is in the guided setup."""

    workspace_id: str
    started_by: str
    started_at: datetime
    updated_at: datetime
    goal_id: str | None = None
    use_case_id: str | None = None
    environments_acknowledged_at: datetime | None = None
    events_reviewed_at: datetime | None = None
    plan_id: str | None = None
    dev_source_ids: tuple[str, ...] = field(default=())
    prod_sources: tuple[PublishedSource, ...] = field(default=())
    prod_destinations: tuple[PublishedDestination, ...] = field(default=())
    published_at: datetime | None = None
    publish_verified_at: datetime | None = None
    identifiers_added_at: datetime | None = None
    republished_at: datetime | None = None
    prod_audiences: tuple[PublishedAudience, ...] = field(default=())

    @property
    def locked(self) -> bool:
        """Whether the use case can no longer change (its events were reviewed)."""
        return self.events_reviewed_at is not None


_TIMES = (
    "started_at",
    "updated_at",
    "environments_acknowledged_at",
    "events_reviewed_at",
    "published_at",
    "publish_verified_at",
    "identifiers_added_at",
    "republished_at",
)


def _from_row(row: Any) -> SetupRecord:
    values = dict(row)
    for key in _TIMES:
        values[key] = utc(values[key])
    values["dev_source_ids"] = tuple(values["dev_source_ids"] or ())
    values["prod_sources"] = tuple(PublishedSource(**p) for p in values["prod_sources"] or ())
    copies = values["prod_destinations"] or ()
    values["prod_destinations"] = tuple(
        PublishedDestination(**p) for p in copies if "dev_destination_id" in p
    )
    values["prod_audiences"] = tuple(
        PublishedAudience(**p) for p in copies if "dev_audience_id" in p
    )
    return SetupRecord(**values)


def _to_row(record: SetupRecord) -> dict[str, Any]:
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    values["dev_source_ids"] = list(record.dev_source_ids)
    values["prod_sources"] = [
        {"dev_source_id": p.dev_source_id, "prod_source_id": p.prod_source_id}
        for p in record.prod_sources
    ]
    values["prod_destinations"] = [
        {"dev_destination_id": p.dev_destination_id, "prod_destination_id": p.prod_destination_id}
        for p in record.prod_destinations
    ] + [
        {"dev_audience_id": p.dev_audience_id, "prod_audience_id": p.prod_audience_id}
        for p in record.prod_audiences
    ]
    del values["prod_audiences"]  # stored in the prod_destinations column (module docstring)
    return values


class SetupRepo:
    """Reads and writes ``setups`` rows."""

    def __init__(self, control: ControlPlane) -> None:
        self.engine = control.engine

    def get(self, workspace_id: str) -> SetupRecord | None:
        """The workspace's setup, or ``None`` if it was never started."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t.setups).where(t.setups.c.workspace_id == workspace_id))
                .mappings()
                .first()
            )
        return _from_row(row) if row else None

    def create(self, workspace_id: str, user_id: str) -> SetupRecord:
        """Start a setup for a workspace."""
        stamp = now()
        record = SetupRecord(workspace_id, user_id, stamp, stamp)
        with self.engine.begin() as conn:
            conn.execute(insert(t.setups).values(**_to_row(record)))
        return record

    def save(self, record: SetupRecord, **changes: Any) -> SetupRecord:
        """Store ``record`` with ``changes`` applied and return the new record."""
        changed = replace(record, **changes, updated_at=now())
        values = _to_row(changed)
        del values["workspace_id"]
        with self.engine.begin() as conn:
            conn.execute(
                update(t.setups)
                .where(t.setups.c.workspace_id == record.workspace_id)
                .values(**values)
            )
        return changed

    def delete(self, workspace_id: str) -> None:
        """Forget a workspace's setup (to begin again)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.setups).where(t.setups.c.workspace_id == workspace_id))
