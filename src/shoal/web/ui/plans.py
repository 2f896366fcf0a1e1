"""Tracking plans: list them, read a plan's rules and recent violations, change its rules.

Plans belong to the workspace (a dev and a prod source may follow the same plan). Changes
go through ``runtime.plans`` (``PlanService``), which validates the whole plan and reloads
the validation stage, so events arriving from then on meet the new version. As in the
Config API, anyone reads plans and only owners change them. A refused change shows the
plan again with the message next to the form and what was typed kept.
"""

from __future__ import annotations

import asyncio
import typing
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from shoal.control.repo import Conflict, NotFound
from shoal.plans import PlanEvent, PlanProperty, TrackingPlan
from shoal.plans.model import PropertyType, type_label
from shoal.web.api.plans import recent_violations
from shoal.web.ui.render import Ui, UiDep, missing, redirect, text

router = APIRouter(prefix="/plans", include_in_schema=False)
PROPERTY_TYPES: tuple[str, ...] = typing.get_args(PropertyType)
VIOLATIONS_SHOWN = 20
POLICY_TEXT = {
    "allow": "Allow: keep the event quietly",
    "flag": "Flag: keep it, with the violations",
    "block": "Block: store it as rejected",
}


def readable(exc: Exception) -> str:
    """A refusal in words: pydantic errors as "field: message", without their prefixes."""
    if isinstance(exc, ValidationError):
        messages = [e["msg"].removeprefix("Value error, ") for e in exc.errors()]
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
        return "; ".join(f"{f}: {m}" if f else m for f, m in zip(fields, messages, strict=True))
    return str(exc)


def _owner_only(ui: Ui) -> Response | None:
    if ui.is_owner:
        return None
    return ui.error(
        403,
        "Only an owner can change tracking plans",
        f"{ui.user.email} is a {ui.user.role} of this workspace: you can read plans, and a "
        "workspace owner can change them.",
    )


async def _plan(ui: Ui, plan_id: str) -> TrackingPlan | None:
    try:
        return await asyncio.to_thread(ui.runtime.plans.get, ui.user.workspace_id, plan_id)
    except NotFound:
        return None


@router.get("")
async def list_plans(ui: UiDep) -> Response:
    """Every tracking plan of the workspace, with its sources and policies."""
    found = await asyncio.to_thread(ui.runtime.plans.list_plans, ui.user.workspace_id)
    sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id)
    return ui.page("plans/list.html", plans=found, sources={s.id: s for s in sources})


async def _new_page(ui: Ui, values: dict[str, Any], error: str | None = None) -> Response:
    sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id)
    return ui.page(
        "plans/new.html",
        422 if error else 200,
        values=values,
        error=error,
        sources=sources,
        policies=POLICY_TEXT,
    )


@router.get("/new")
async def new_plan(ui: UiDep) -> Response:
    """The form for a new plan: name, description, policies and the sources it checks."""
    values = {"unplanned_events": "flag", "invalid_properties": "flag", "source_ids": []}
    return await _new_page(ui, values)


@router.post("/new")
async def create_plan(ui: UiDep) -> Response:
    """Create an empty plan; events are added on its page."""
    form = await ui.form()
    values: dict[str, Any] = {
        k: text(form, k) for k in ("name", "description", "unplanned_events", "invalid_properties")
    }
    values["source_ids"] = [v for v in form.getlist("source_id") if isinstance(v, str)]
    refusal = _owner_only(ui)
    if refusal is not None:
        return refusal
    try:
        if not values["name"]:
            raise ValueError("Give the plan a name.")
        plan = await asyncio.to_thread(
            ui.runtime.plans.create,
            ui.user.workspace_id,
            values["name"][:200],
            [],
            description=values["description"][:2000],
            unplanned_events=values["unplanned_events"],
            invalid_properties=values["invalid_properties"],
            source_ids=values["source_ids"],
        )
    except (Conflict, NotFound, ValueError) as exc:
        return await _new_page(ui, values, readable(exc))
    ui.flash(f"Created tracking plan {plan.name!r}. Add the events it expects below.")
    return redirect(f"/plans/{plan.id}")


async def plan_page(
    ui: Ui,
    plan: TrackingPlan,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    """A plan's page: its rules, the forms that change them, its recent violations."""
    errors = dict(errors or {})
    for key in [k for k in errors if k.startswith("event:")]:
        if plan.event(key.removeprefix("event:")) is None:
            # The event is not (or no longer) in the plan: say so above the events.
            errors["events"] = errors.pop(key)
    sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id)
    found = await recent_violations(plan.id, ui.runtime, ui.user, VIOLATIONS_SHOWN)
    return ui.page(
        "plans/detail.html",
        422 if errors else 200,
        plan=plan,
        sources=sources,
        source_names={s.id: s.name for s in sources},
        violations=found["events"],
        errors=errors,
        values=values or {},
        property_types=PROPERTY_TYPES,
        type_label=type_label,
        policies=POLICY_TEXT,
    )


@router.get("/{plan_id}")
async def plan_detail(plan_id: str, ui: UiDep) -> Response:
    """One plan: events and their property rules, sources, policies, recent violations."""
    plan = await _plan(ui, plan_id)
    return missing(ui, "tracking plan", plan_id) if plan is None else await plan_page(ui, plan)


def anchor(plan: TrackingPlan, form_key: str) -> str:
    """The element a change returns to: an event's card (``event-N``) or the form's own."""
    if form_key.startswith("event:"):
        names = [e.name for e in plan.events]
        name = form_key.removeprefix("event:")
        return f"event-{names.index(name) + 1}" if name in names else "events"
    return form_key


async def _change(
    ui: Ui, plan_id: str, form_key: str, change: Any, done: str, values: dict[str, Any]
) -> Response:
    """Run one change of a plan; show the plan again with the refusal, or go back to it."""
    refusal = _owner_only(ui)
    if refusal is not None:
        return refusal
    plan = await _plan(ui, plan_id)
    if plan is None:
        return missing(ui, "tracking plan", plan_id)
    try:
        await asyncio.to_thread(change, plan)
    except (Conflict, NotFound, ValueError) as exc:
        current = await _plan(ui, plan_id) or plan
        return await plan_page(ui, current, {form_key: readable(exc)}, {form_key: values})
    ui.flash(done)
    changed = await _plan(ui, plan_id) or plan
    return redirect(f"/plans/{plan_id}#{anchor(changed, form_key)}")


def _fields(form: FormData, *names: str) -> dict[str, str]:
    return {name: text(form, name) for name in names}


@router.post("/{plan_id}/settings")
async def save_settings(plan_id: str, ui: UiDep) -> Response:
    """Rename the plan, change its description or what happens to events that break it."""
    values = _fields(
        await ui.form(), "name", "description", "unplanned_events", "invalid_properties"
    )

    def change(plan: TrackingPlan) -> None:
        if not values["name"]:
            raise ValueError("Give the plan a name.")
        if len(values["name"]) > 200 or len(values["description"]) > 2000:
            raise ValueError("Keep the name to 200 and the description to 2,000 characters.")
        ui.runtime.plans.update(ui.user.workspace_id, plan.id, **values)

    return await _change(ui, plan_id, "settings", change, "Plan settings saved.", values)


@router.post("/{plan_id}/events")
async def add_event(plan_id: str, ui: UiDep) -> Response:
    """Add an event to the plan (a track event by name, or the page or screen call)."""
    values = _fields(await ui.form(), "name", "call", "description")

    def change(plan: TrackingPlan) -> None:
        if not values["name"]:
            raise ValueError("Give the event a name, e.g. Order Completed.")
        event = PlanEvent.model_validate({**values, "call": values["call"] or "track"})
        if plan.event(event.name) is not None:
            raise ValueError(f"The plan already has an event {event.name!r}.")
        ui.runtime.plans.upsert_event(ui.user.workspace_id, plan.id, event)

    done = f"Added event {values['name']!r}; add its properties below."
    return await _change(ui, plan_id, "add-event", change, done, values)


@router.post("/{plan_id}/events/remove")
async def remove_event(plan_id: str, ui: UiDep) -> Response:
    """Remove an event: from now on it counts as unplanned."""
    values = _fields(await ui.form(), "event")

    def change(plan: TrackingPlan) -> None:
        ui.runtime.plans.remove_event(ui.user.workspace_id, plan.id, values["event"])

    done = f"Removed event {values['event']!r}: it now counts as unplanned."
    return await _change(ui, plan_id, "events", change, done, values)


@router.post("/{plan_id}/properties")
async def save_property(plan_id: str, ui: UiDep) -> Response:
    """Add a property to an event, or change its type or whether it is required (adding
    one the event already has is refused: it would silently replace its rule)."""
    form = await ui.form()
    values = _fields(form, "event", "name", "type")
    required = form.get("required") == "true"
    values["required"] = "true" if required else ""
    adding = form.get("new") == "true"  # the "New property" form, not a row's Save

    def change(plan: TrackingPlan) -> None:
        if not values["name"]:
            raise ValueError("Give the property a name, e.g. order_id.")
        if values["type"] not in ("", *PROPERTY_TYPES):
            raise ValueError(f"Choose a type: any, or one of {', '.join(PROPERTY_TYPES)}.")
        prop = PlanProperty.model_validate(
            {"name": values["name"], "type": values["type"] or None, "required": required}
        )
        event = plan.event(values["event"])
        current = event.property(prop.name) if event else None
        if current is not None and adding:
            raise ValueError(
                f"{values['event']!r} already has a property {prop.name!r}; change it in its "
                "row above."
            )
        if current is not None:
            prop = prop.model_copy(update={"description": current.description})
        ui.runtime.plans.upsert_property(ui.user.workspace_id, plan.id, values["event"], prop)

    done = f"Saved property {values['name']!r} of {values['event']!r}."
    return await _change(ui, plan_id, "event:" + values["event"], change, done, values)


@router.post("/{plan_id}/properties/remove")
async def remove_property(plan_id: str, ui: UiDep) -> Response:
    """Remove a property from an event's rules."""
    values = _fields(await ui.form(), "event", "name")

    def change(plan: TrackingPlan) -> None:
        ui.runtime.plans.remove_property(
            ui.user.workspace_id, plan.id, values["event"], values["name"]
        )

    done = f"Removed property {values['name']!r} of {values['event']!r}."
    return await _change(ui, plan_id, "event:" + values["event"], change, done, values)


@router.post("/{plan_id}/sources")
async def save_sources(plan_id: str, ui: UiDep) -> Response:
    """Choose the sources whose events the plan checks (a source follows one plan)."""
    form = await ui.form()
    wanted = [v for v in form.getlist("source_id") if isinstance(v, str) and v]

    def change(plan: TrackingPlan) -> None:
        service, workspace = ui.runtime.plans, ui.user.workspace_id
        gone = [s for s in plan.source_ids if s not in wanted]
        if gone:
            service.detach(workspace, plan.id, gone)
        added = [s for s in wanted if s not in plan.source_ids]
        if added:
            service.attach(workspace, plan.id, added)

    values = {"source_ids": wanted}
    return await _change(ui, plan_id, "sources", change, "Sources saved.", values)
