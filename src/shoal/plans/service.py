"""Plan changes that take effect at once: every write reloads the validation stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shoal.control.repo import ControlPlane, NotFound
from shoal.plans.model import PlanEvent, PlanProperty, TrackingPlan
from shoal.plans.repo import PlanRepo
from shoal.plans.stage import PlanStage


class PlanService:
    """The plans of all workspaces, with the pipeline stage that enforces them."""

    def __init__(self, control: ControlPlane) -> None:
        self.repo = PlanRepo(control)
        self.stage = PlanStage(self.repo.attached)
        # A deleted source leaves its plan (cascade); drop it from the cache as well.
        control.on_sources_changed(self.stage.reload)

    def list_plans(self, workspace_id: str) -> list[TrackingPlan]:
        """Every plan of a workspace."""
        return self.repo.list_plans(workspace_id)

    def get(self, workspace_id: str, plan_id: str) -> TrackingPlan:
        """One plan of a workspace (``NotFound`` otherwise)."""
        return self.repo.get(workspace_id, plan_id)

    def create(
        self, workspace_id: str, name: str, events: Sequence[PlanEvent], **options: Any
    ) -> TrackingPlan:
        """Create a plan (see ``PlanRepo.create`` for the options) and start enforcing it."""
        plan = self.repo.create(workspace_id, name, events, **options)
        self.stage.reload()
        return plan

    def update(self, workspace_id: str, plan_id: str, **changes: Any) -> TrackingPlan:
        """Change a plan; events arriving from now on meet the new version."""
        plan = self.repo.update(workspace_id, plan_id, **changes)
        self.stage.reload()
        return plan

    def attach(self, workspace_id: str, plan_id: str, source_ids: Sequence[str]) -> TrackingPlan:
        """Make sources follow a plan."""
        plan = self.repo.attach(workspace_id, plan_id, source_ids)
        self.stage.reload()
        return plan

    def detach(self, workspace_id: str, plan_id: str, source_ids: Sequence[str]) -> TrackingPlan:
        """Stop checking sources against a plan."""
        plan = self.repo.detach(workspace_id, plan_id, source_ids)
        self.stage.reload()
        return plan

    def delete(self, workspace_id: str, plan_id: str) -> None:
        """Delete a plan; its sources are no longer checked."""
        self.repo.delete(workspace_id, plan_id)
        self.stage.reload()

    def upsert_event(self, workspace_id: str, plan_id: str, event: PlanEvent) -> TrackingPlan:
        """Add an event to a plan, or replace the one with the same name."""
        plan = self.get(workspace_id, plan_id)
        events = [e for e in plan.events if e.name != event.name]
        position = next((i for i, e in enumerate(plan.events) if e.name == event.name), None)
        events.insert(len(events) if position is None else position, event)
        return self.update(workspace_id, plan_id, events=events)

    def remove_event(self, workspace_id: str, plan_id: str, name: str) -> TrackingPlan:
        """Remove an event from a plan (``NotFound`` if it has none by that name)."""
        plan = self.get(workspace_id, plan_id)
        if plan.event(name) is None:
            raise _no_event(plan, name)
        return self.update(workspace_id, plan_id, events=[e for e in plan.events if e.name != name])

    def upsert_property(
        self, workspace_id: str, plan_id: str, event_name: str, prop: PlanProperty
    ) -> TrackingPlan:
        """Add a property to a planned event, or replace the one with the same name."""
        plan = self.get(workspace_id, plan_id)
        event = plan.event(event_name)
        if event is None:
            raise _no_event(plan, event_name)
        props = [p for p in event.properties if p.name != prop.name]
        position = next((i for i, p in enumerate(event.properties) if p.name == prop.name), None)
        props.insert(len(props) if position is None else position, prop)
        return self.upsert_event(
            workspace_id, plan_id, event.model_copy(update={"properties": props})
        )

    def remove_property(
        self, workspace_id: str, plan_id: str, event_name: str, name: str
    ) -> TrackingPlan:
        """Remove a property from a planned event."""
        plan = self.get(workspace_id, plan_id)
        event = plan.event(event_name)
        if event is None:
            raise _no_event(plan, event_name)
        if event.property(name) is None:
            raise NotFound(f"event {event_name!r} of plan {plan.name!r} has no property {name!r}")
        props = [p for p in event.properties if p.name != name]
        return self.upsert_event(
            workspace_id, plan_id, event.model_copy(update={"properties": props})
        )


def _no_event(plan: TrackingPlan, name: str) -> NotFound:
    known = ", ".join(e.name for e in plan.events) or "none"
    return NotFound(f"tracking plan {plan.name!r} has no event {name!r} (has: {known})")
