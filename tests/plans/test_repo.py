"""Plans in the control plane: versions, one plan per source, cascades, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.control import ControlPlane
from shoal.control.repo import Conflict, NotFound
from shoal.plans import PlanEvent, PlanProperty, PlanService
from tests.plans.helpers import ORDER, event


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(f"sqlite:///{tmp_path / 'control.db'}")
    plane.migrate()
    plane.bootstrap("token")
    yield plane
    plane.close()


def test_create_update_attach_and_enforce(control: ControlPlane) -> None:
    ws = control.owner().workspace_id
    service = PlanService(control)
    src = control.create_source(ws, "web", "website", "dev")
    plan = service.create(ws, "Checkout", [ORDER], source_ids=[src.id])
    assert plan.version == 1 and plan.source_ids == (src.id,)
    assert plan.event("Order Completed") is not None
    assert service.stage.plan_for(src.id) is not None

    plan = service.upsert_property(
        ws, plan.id, "Order Completed", PlanProperty(name="coupon", type="string")
    )
    assert plan.version == 2
    assert [p.name for p in plan.events[0].properties][-1] == "coupon"
    plan = service.update(ws, plan.id, invalid_properties="block")
    compiled = service.stage.plan_for(src.id)
    assert compiled is not None and compiled.version == 3 and compiled.invalid == "block"

    plan = service.remove_event(ws, plan.id, "Order Completed")
    assert plan.events == ()
    with pytest.raises(NotFound, match="has no event"):
        service.remove_event(ws, plan.id, "Order Completed")


def test_a_source_follows_one_plan(control: ControlPlane) -> None:
    ws = control.owner().workspace_id
    service = PlanService(control)
    src = control.create_source(ws, "web", "website", "dev")
    first = service.create(ws, "One", [ORDER], source_ids=[src.id])
    second = service.create(ws, "Two", [ORDER])
    with pytest.raises(Conflict, match="already follows"):
        service.attach(ws, second.id, [src.id])
    with pytest.raises(Conflict, match="already exists"):
        service.create(ws, "One", [])
    with pytest.raises(NotFound):
        service.attach(ws, second.id, ["src_missing"])
    service.detach(ws, first.id, [src.id])
    assert service.attach(ws, second.id, [src.id]).source_ids == (src.id,)


def test_deleting_a_source_drops_it_from_its_plan_and_the_cache(control: ControlPlane) -> None:
    ws = control.owner().workspace_id
    service = PlanService(control)
    src = control.create_source(ws, "web", "website", "dev")
    plan = service.create(ws, "Plan", [ORDER], source_ids=[src.id])
    control.delete_source(ws, src.id)
    assert service.get(ws, plan.id).source_ids == ()
    assert service.stage.plan_for(src.id) is None


def test_invalid_plans_are_refused(control: ControlPlane) -> None:
    ws = control.owner().workspace_id
    service = PlanService(control)
    twice = [ORDER, ORDER]
    with pytest.raises(ValueError, match="twice"):
        service.create(ws, "Dupes", twice)
    pages = [PlanEvent(name="A", call="page"), PlanEvent(name="B", call="page")]
    with pytest.raises(ValueError, match="one entry"):
        service.create(ws, "Pages", pages)
    with pytest.raises(ValueError, match="unplanned_events"):
        service.create(ws, "Policy", [], unplanned_events="drop")


def test_plans_survive_a_restart(control: ControlPlane, tmp_path: Path) -> None:
    ws = control.owner().workspace_id
    src = control.create_source(ws, "web", "website", "dev")
    PlanService(control).create(
        ws, "Kept", [ORDER], source_ids=[src.id], invalid_properties="block"
    )
    again = ControlPlane(control.url)
    try:
        stage = PlanService(again).stage
        stage.reload()
        ev = event(properties={"total": "x"}, source_id=src.id)
        compiled = stage.plan_for(src.id)
        assert compiled is not None
        compiled.check(ev)
        assert ev.status == "rejected"
    finally:
        again.close()
