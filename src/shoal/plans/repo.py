"""Tracking plans and their sources in the control-plane database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shoal.control import tables as t
from shoal.control.repo import Conflict, ControlPlane, NotFound
from shoal.control.secrets import new_id
from shoal.plans.model import POLICIES, PlanEvent, PlanEvents, TrackingPlan


def _now() -> datetime:
    return datetime.now(UTC)


def _check_policy(field: str, value: str) -> None:
    if value not in POLICIES:
        raise ValueError(f"{field} must be one of {', '.join(POLICIES)}, not {value!r}")


def _events_json(events: Sequence[PlanEvent]) -> list[dict[str, Any]]:
    checked = PlanEvents(events=list(events)).events
    return [e.model_dump() for e in checked]


class PlanRepo:
    """CRUD for tracking plans; a source follows at most one plan."""

    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.engine = control.engine

    def _sources(self, conn: Connection, plan_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(plan_ids)
        out: dict[str, list[str]] = {pid: [] for pid in ids}
        if not ids:
            return out
        rows = conn.execute(
            select(t.tracking_plan_sources.c.plan_id, t.tracking_plan_sources.c.source_id)
            .where(t.tracking_plan_sources.c.plan_id.in_(ids))
            .order_by(t.tracking_plan_sources.c.attached_at, t.tracking_plan_sources.c.source_id)
        )
        for plan_id, source_id in rows:
            out[plan_id].append(source_id)
        return out

    def _load(self, conn: Connection, where: Any) -> list[TrackingPlan]:
        rows = list(
            conn.execute(
                select(t.tracking_plans).where(where).order_by(t.tracking_plans.c.created_at)
            ).mappings()
        )
        sources = self._sources(conn, (r["id"] for r in rows))
        return [
            TrackingPlan(
                **{k: v for k, v in row.items() if k != "events"},
                events=tuple(PlanEvent.model_validate(e) for e in row["events"]),
                source_ids=tuple(sources[row["id"]]),
            )
            for row in rows
        ]

    def list_plans(self, workspace_id: str) -> list[TrackingPlan]:
        """Every plan of a workspace, oldest first."""
        with self.engine.connect() as conn:
            return self._load(conn, t.tracking_plans.c.workspace_id == workspace_id)

    def attached(self) -> list[TrackingPlan]:
        """Every plan, of all workspaces, that checks at least one source."""
        with self.engine.connect() as conn:
            plans = self._load(conn, t.tracking_plans.c.id.is_not(None))
        return [p for p in plans if p.source_ids]

    def get(self, workspace_id: str, plan_id: str) -> TrackingPlan:
        """One plan of the workspace.

        Raises:
            NotFound: If the workspace has no such plan.
        """
        with self.engine.connect() as conn:
            found = self._load(
                conn,
                (t.tracking_plans.c.id == plan_id)
                & (t.tracking_plans.c.workspace_id == workspace_id),
            )
        if not found:
            raise NotFound(f"tracking plan {plan_id} does not exist in this workspace")
        return found[0]

    def plan_of_source(self, source_id: str) -> str | None:
        """The id of the plan a source follows, if any."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.tracking_plan_sources.c.plan_id).where(
                    t.tracking_plan_sources.c.source_id == source_id
                )
            ).scalar_one_or_none()

    def create(
        self,
        workspace_id: str,
        name: str,
        events: Sequence[PlanEvent],
        *,
        description: str = "",
        unplanned_events: str = "flag",
        invalid_properties: str = "flag",
        goal_id: str | None = None,
        use_case_id: str | None = None,
        source_ids: Sequence[str] = (),
    ) -> TrackingPlan:
        """Create a plan and attach it to ``source_ids``.

        Raises:
            Conflict: If the name is taken or a source already follows another plan.
            NotFound: If a source is not in the workspace.
        """
        _check_policy("unplanned_events", unplanned_events)
        _check_policy("invalid_properties", invalid_properties)
        now = _now()
        plan_id = new_id("tp")
        values = {
            "id": plan_id,
            "workspace_id": workspace_id,
            "name": name,
            "description": description,
            "goal_id": goal_id,
            "use_case_id": use_case_id,
            "unplanned_events": unplanned_events,
            "invalid_properties": invalid_properties,
            "events": _events_json(events),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.tracking_plans).values(**values))
                self._attach(conn, workspace_id, plan_id, source_ids)
        except IntegrityError as exc:
            raise Conflict(f"a tracking plan named {name!r} already exists") from exc
        return self.get(workspace_id, plan_id)

    def update(self, workspace_id: str, plan_id: str, **changes: Any) -> TrackingPlan:
        """Change name, description, policies or events; the version goes up by one."""
        allowed = {"name", "description", "unplanned_events", "invalid_properties", "events"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a tracking plan")
        for key in ("unplanned_events", "invalid_properties"):
            if key in changes:
                _check_policy(key, changes[key])
        if "events" in changes:
            changes["events"] = _events_json(changes["events"])
        current = self.get(workspace_id, plan_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.tracking_plans)
                    .where(t.tracking_plans.c.id == plan_id)
                    .values(**changes, version=current.version + 1, updated_at=_now())
                )
        except IntegrityError as exc:
            raise Conflict("another tracking plan already has this name") from exc
        return self.get(workspace_id, plan_id)

    def attach(self, workspace_id: str, plan_id: str, source_ids: Sequence[str]) -> TrackingPlan:
        """Make sources follow this plan (already-attached ones are left as they are)."""
        self.get(workspace_id, plan_id)
        with self.engine.begin() as conn:
            self._attach(conn, workspace_id, plan_id, source_ids)
        return self.get(workspace_id, plan_id)

    def detach(self, workspace_id: str, plan_id: str, source_ids: Sequence[str]) -> TrackingPlan:
        """Stop checking these sources against this plan."""
        self.get(workspace_id, plan_id)
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.tracking_plan_sources).where(
                    t.tracking_plan_sources.c.plan_id == plan_id,
                    t.tracking_plan_sources.c.source_id.in_(list(source_ids)),
                )
            )
        return self.get(workspace_id, plan_id)

    def delete(self, workspace_id: str, plan_id: str) -> None:
        """Delete a plan; its sources stop being checked. Stored violations remain."""
        self.get(workspace_id, plan_id)
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.tracking_plan_sources).where(t.tracking_plan_sources.c.plan_id == plan_id)
            )
            conn.execute(update(t.setups).where(t.setups.c.plan_id == plan_id).values(plan_id=None))
            conn.execute(delete(t.tracking_plans).where(t.tracking_plans.c.id == plan_id))

    def _attach(
        self, conn: Connection, workspace_id: str, plan_id: str, source_ids: Sequence[str]
    ) -> None:
        for source_id in dict.fromkeys(source_ids):
            found = conn.execute(
                select(t.sources.c.id).where(
                    t.sources.c.id == source_id, t.sources.c.workspace_id == workspace_id
                )
            ).first()
            if found is None:
                raise NotFound(f"source {source_id} does not exist in this workspace")
            other = conn.execute(
                select(t.tracking_plan_sources.c.plan_id).where(
                    t.tracking_plan_sources.c.source_id == source_id
                )
            ).scalar_one_or_none()
            if other == plan_id:
                continue
            if other is not None:
                raise Conflict(
                    f"source {source_id} already follows tracking plan {other}; "
                    "detach it there first (a source follows one plan)"
                )
            conn.execute(
                insert(t.tracking_plan_sources).values(
                    source_id=source_id, plan_id=plan_id, attached_at=_now()
                )
            )
