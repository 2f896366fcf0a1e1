"""Guided setup, first screens: business goal, use case, the dev/prod explanation, review.

Each screen reads the setup as ``GET /api/v1/setup`` shows it (``setup_view``) and
advances it through ``runtime.setup``, the service the Config API uses, so the rules
(owners only, the use case locks once the events are reviewed, ...) are the API's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from shoal.catalog import load_catalog
from shoal.control.repo import Conflict, NotFound
from shoal.onboarding import SetupError, setup_view
from shoal.onboarding.view import ENVIRONMENTS_EXPLANATION, REVIEW_WARNING
from shoal.web.ui.render import Ui, UiDep, redirect, text

router = APIRouter(prefix="/setup", include_in_schema=False)


async def view_of(ui: Ui) -> dict[str, Any]:
    """The whole guided setup, as the Config API answers ``GET /api/v1/setup``."""
    return await setup_view(ui.runtime.setup, ui.user, ui.runtime.audiences)


def step(view: dict[str, Any], step_id: str) -> dict[str, Any]:
    """One step of the setup view by id."""
    found: dict[str, Any] = next(s for s in view["steps"] if s["id"] == step_id)
    return found


async def act(ui: Ui, action: Callable[..., object], *args: Any, **kwargs: Any) -> str | None:
    """Run a setup action; ``None`` when it worked, else the refusal in words."""
    try:
        await asyncio.to_thread(action, ui.user, *args, **kwargs)
    except SetupError as exc:
        return exc.message
    except (Conflict, NotFound, ValueError) as exc:
        return str(exc)
    return None


def refused(ui: Ui, message: str, back: str) -> Response:
    """Show a refusal on the page the person came from."""
    ui.flash(f"error:{message}")
    return redirect(back)


@router.get("/goal")
async def goal_screen(ui: UiDep) -> Response:
    """ "What is your business goal?": the four goals with their key considerations."""
    view = await view_of(ui)
    if view["use_case_locked"]:
        ui.flash("The use case is locked: its suggested events were reviewed.")
        return redirect("/setup")
    return ui.page(
        "setup/goal.html",
        view=view,
        goals=load_catalog().goals,
        selected=(view["goal"] or {}).get("id"),
        stage=1,
    )


@router.post("/goal")
async def choose_goal(ui: UiDep) -> Response:
    """Pick the goal (starts the setup), then on to the use cases."""
    form = await ui.form()
    goal_id = text(form, "goal_id")
    if not goal_id:
        return refused(ui, "Choose one of the business goals, then click Next.", "/setup/goal")
    problem = await act(ui, ui.runtime.setup.choose_goal, goal_id)
    if problem:
        return refused(ui, problem, "/setup/goal")
    return redirect("/setup/use-case")


@router.get("/use-case")
async def use_case_screen(ui: UiDep) -> Response:
    """ "Which use case would you like to set up?": the goal's use cases, described."""
    view = await view_of(ui)
    if view["goal"] is None:
        return redirect("/setup/goal")
    if view["use_case_locked"]:
        return redirect("/setup")
    goal = load_catalog().goal(view["goal"]["id"])
    return ui.page(
        "setup/use_case.html",
        view=view,
        goal=goal,
        selected=(view["use_case"] or {}).get("id"),
        stage=2,
    )


@router.post("/use-case")
async def choose_use_case(ui: UiDep) -> Response:
    """Pick the use case, then the dev/prod explanation."""
    form = await ui.form()
    use_case_id = text(form, "use_case_id")
    if not use_case_id:
        return refused(ui, "Choose a use case, then click Next.", "/setup/use-case")
    problem = await act(ui, ui.runtime.setup.choose_use_case, use_case_id)
    if problem:
        return refused(ui, problem, "/setup/use-case")
    return redirect("/setup/environments")


@router.get("/environments")
async def environments_screen(ui: UiDep) -> Response:
    """How dev and prod environments work."""
    view = await view_of(ui)
    if view["use_case"] is None:
        return redirect("/setup/use-case" if view["goal"] else "/setup/goal")
    return ui.page(
        "setup/environments.html", view=view, explanation=ENVIRONMENTS_EXPLANATION, stage=3
    )


@router.post("/environments")
async def acknowledge(ui: UiDep) -> Response:
    """The explanation was read: on to the setup checklist."""
    await ui.form()
    problem = await act(ui, ui.runtime.setup.acknowledge_environments)
    if problem:
        return refused(ui, problem, "/setup/environments")
    return redirect("/setup?env=dev")


@router.post("/restart")
async def restart(ui: UiDep) -> Response:
    """ "Change use case": begin the flow again (only before the events are reviewed)."""
    await ui.form()
    problem = await act(ui, ui.runtime.setup.restart)
    if problem:
        return refused(ui, problem, "/setup")
    ui.flash("Pick a business goal and a use case again.")
    return redirect("/setup/goal")


@router.get("/review")
async def review_screen(ui: UiDep) -> Response:
    """Review suggested events: the events and properties of the use case, and the warning."""
    view = await view_of(ui)
    if view["use_case"] is None:
        return redirect("/setup/goal")
    review = step(view, "review_events")
    return ui.page(
        "setup/review.html",
        view=view,
        review=review,
        warning=REVIEW_WARNING,
        locked=view["use_case_locked"],
    )


@router.post("/review")
async def review(ui: UiDep) -> Response:
    """Confirm the suggested events: locks the use case and creates its tracking plan."""
    await ui.form()
    problem = await act(ui, ui.runtime.setup.review_events)
    if problem:
        return refused(ui, problem, "/setup/review")
    ui.flash("Suggested events reviewed: the use case is locked and its tracking plan created.")
    return redirect("/setup?env=dev")
