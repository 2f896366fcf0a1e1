"""Tracking plans: JSON Schemas per event, checked on every event of the planned sources."""

from shoal.plans.model import (
    POLICIES,
    PlanEvent,
    PlanEvents,
    PlanProperty,
    Policy,
    TrackingPlan,
    event_schema,
    events_from_use_case,
)
from shoal.plans.service import PlanService
from shoal.plans.stage import PlanStage
from shoal.plans.validate import REASON_INVALID, REASON_UNPLANNED, CompiledPlan

__all__ = [
    "POLICIES",
    "REASON_INVALID",
    "REASON_UNPLANNED",
    "CompiledPlan",
    "PlanEvent",
    "PlanEvents",
    "PlanProperty",
    "PlanService",
    "PlanStage",
    "Policy",
    "TrackingPlan",
    "event_schema",
    "events_from_use_case",
]
