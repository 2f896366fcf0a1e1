"""Small builders shared by the plan tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shoal.plans import PlanEvent, PlanProperty, TrackingPlan
from shoal.spec.normalize import NormalizedEvent

_counter = iter(range(1, 1_000_000))


def event(
    kind: str = "track",
    name: str | None = "Order Completed",
    properties: dict[str, Any] | None = None,
    source_id: str = "src_a",
    status: str = "accepted",
) -> NormalizedEvent:
    """A normalized event as the pipeline hands it to stages."""
    message: dict[str, Any] = {"type": kind, "userId": "u1"}
    if properties is not None:
        message["properties"] = properties
    if kind == "track":
        message["event"] = name
    elif name is not None:
        message["name"] = name
    n = next(_counter)
    return NormalizedEvent(
        source_id=source_id,
        workspace_id="ws_1",
        environment="dev",
        message_id=f"m{n}",
        type=kind,
        status=status,
        reason=None if status == "accepted" else "no_user_anon_id",
        received_at=1_700_000_000_000 + n,
        timestamp=1_700_000_000_000 + n,
        message=message,
        event=name,
        user_id="u1",
    )


ORDER = PlanEvent(
    name="Order Completed",
    properties=[
        PlanProperty(name="order_id", type="string"),
        PlanProperty(name="total", type="number"),
        PlanProperty(name="quantity", type="integer", required=False),
        PlanProperty(name="placed_at", type="date-time", required=False),
        PlanProperty(name="products", type="array", required=False),
        PlanProperty(name="anything"),
    ],
)
PAGE = PlanEvent(
    name="Page Viewed", call="page", properties=[PlanProperty(name="page_name", type="string")]
)


def plan(
    events: tuple[PlanEvent, ...] = (ORDER, PAGE),
    unplanned: str = "flag",
    invalid: str = "flag",
    sources: tuple[str, ...] = ("src_a",),
    version: int = 1,
    plan_id: str = "tp_1",
) -> TrackingPlan:
    """A tracking plan without touching a database."""
    now = datetime.now(UTC)
    return TrackingPlan(
        id=plan_id,
        workspace_id="ws_1",
        name="Test plan",
        description="",
        goal_id=None,
        use_case_id=None,
        unplanned_events=unplanned,
        invalid_properties=invalid,
        events=events,
        version=version,
        created_at=now,
        updated_at=now,
        source_ids=sources,
    )
