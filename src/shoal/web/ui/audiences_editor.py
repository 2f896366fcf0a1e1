"""The audience builder: settings, the condition editor, live count, explain, save.

``/audiences/new`` and ``/audiences/{id}/edit`` show one form. Its condition editor is
re-rendered by the server on every click (``POST /audiences/editor``, see
``audiences_tree``); typing asks ``POST /audiences/preview`` for the exact count and a
sample; ``POST /audiences/explain`` evaluates the definition for one profile. These three
answer with fragments, and with a message inside the fragment when the definition is
incomplete or wrong: never an error status, which htmx would not show. Saving is a plain
form post that goes to the audience's page, or shows the form again with each refusal next
to its field.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from shoal.audiences import model
from shoal.audiences.repo import Audience, Conflict, NotFound
from shoal.audiences.service import AudienceService, Invalid
from shoal.web.ui import audiences_values as values_
from shoal.web.ui.audiences_form import (
    EditorState,
    body_of,
    check_settings,
    from_form,
    posted_settings,
    settings_of,
    where_refused,
)
from shoal.web.ui.audiences_tree import node_errors
from shoal.web.ui.render import Ui, UiDep, missing, redirect, text

# Included by ``audiences.router`` under /audiences, before its /{audience_id} routes.
router = APIRouter(include_in_schema=False)
log = logging.getLogger("shoal.web")
SAMPLE = 10
EXAMPLE = "event('Order Completed').count() >= 2 and trait('plan') = 'pro'"


def service_of(ui: Ui) -> AudienceService | None:
    """The runtime's audiences (``None`` without the DuckDB event store)."""
    return ui.runtime.audiences


def unavailable(ui: Ui) -> Response:
    """The page for a server whose store cannot evaluate audiences."""
    return ui.error(
        503,
        "Audiences are not available",
        "Audiences are computed in the DuckDB event store; this server uses another store, "
        "so it cannot build or refresh them.",
    )


async def _scope(
    ui: Ui, service: AudienceService, form: FormData
) -> tuple[str, str, Audience | None]:
    """The space and collection a posted builder works in: the saved audience's when it
    edits one (``NotFound`` if the user may not see it), else the form's."""
    audience_id = text(form, "audience_id")
    if audience_id:
        audience = await asyncio.to_thread(service.get, ui.user, audience_id)
        return audience.environment, audience.collection, audience
    settings = posted_settings(form, ui.env)
    return settings["env"], settings["collection"], None


async def _editor_context(
    ui: Ui, service: AudienceService, state: EditorState, env: str, collection: str,
    audience: Audience | None, definition_error: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What ``audiences/_editor.html`` needs."""
    others = await asyncio.to_thread(service.visible, ui.user, env)
    return {
        "state": state,
        "collection": collection,
        "node_errors": node_errors(state.tree, collection) if state.mode == "click" else {},
        "definition_error": definition_error,
        "audience_keys": [a.key for a in others if audience is None or a.id != audience.id],
        "v": values_,
        "example": EXAMPLE,
    }


async def builder_page(
    ui: Ui, service: AudienceService, settings: dict[str, Any], state: EditorState,
    audience: Audience | None = None, errors: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """The whole builder page."""
    errors = errors or {}
    env = audience.environment if audience else settings["env"]
    collection = audience.collection if audience else settings["collection"]
    collections = await asyncio.to_thread(service.collections, ui.user.workspace_id, env)
    users = await asyncio.to_thread(ui.runtime.control.list_users, ui.user.workspace_id)
    editor = await _editor_context(
        ui, service, state, env, collection, audience, errors.get("definition")
    )
    return ui.page(
        "audiences/builder.html",
        422 if errors else 200,
        audience=audience,
        settings=settings,
        space=env,
        collections=collections,
        members=[u for u in users if u.id != ui.user.id],
        errors=errors,
        env_next="/audiences",
        **editor,
    )


@router.get("/new")
async def new_audience(ui: UiDep) -> Response:
    """An empty builder for the space the Dev/Prod switch shows."""
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    return await builder_page(ui, service, settings_of(None, ui.env), EditorState.of(None))


async def _visible(ui: Ui, service: AudienceService, audience_id: str) -> Audience | None:
    try:
        return await asyncio.to_thread(service.get, ui.user, audience_id)
    except NotFound:
        return None


@router.get("/{audience_id}/edit")
async def edit_audience(audience_id: str, ui: UiDep) -> Response:
    """The builder opened on a saved audience; saving makes a new version."""
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    audience = await _visible(ui, service, audience_id)
    if audience is None:
        return missing(ui, "audience", audience_id)
    state = EditorState.of(audience.definition)
    return await builder_page(ui, service, settings_of(audience, ui.env), state, audience)


async def _save(ui: Ui, service: AudienceService, audience: Audience | None) -> Response:
    form = await ui.form()
    action = text(form, "action")
    state = from_form(form, action)
    settings = posted_settings(form, ui.env)
    if audience is not None:
        settings["env"], settings["collection"] = audience.environment, audience.collection
    if action != "save":
        # An editor button pressed without htmx: the same edit, on the whole page.
        return await builder_page(ui, service, settings, state, audience)
    errors = check_settings(settings)
    if not errors:
        users = await asyncio.to_thread(ui.runtime.control.list_users, ui.user.workspace_id)
        body = body_of(settings, state, {u.id for u in users})
        try:
            if audience is None:
                saved = await service.create(ui.user, settings["env"], body)
            else:
                saved = await service.update(ui.user, audience.id, body)
        except NotFound as exc:
            errors["definition"] = str(exc)
        except Conflict as exc:
            errors["name"] = f"{exc} Choose another name."
        except model.DefinitionError as exc:
            errors["definition"] = str(exc)
        except Invalid as exc:
            errors[where_refused(str(exc))] = str(exc)
    if errors:
        return await builder_page(ui, service, settings, state, audience, errors)
    if audience is None:
        ui.flash(f"Created audience {saved.name!r}; it is being computed.")
    elif saved.version != audience.version:
        ui.flash(f"Saved version {saved.version} of {saved.name!r}; it is being recomputed.")
    else:
        ui.flash(f"Saved {saved.name!r}.")
    return redirect(f"/audiences/{saved.id}")


@router.post("/new")
async def create_audience(ui: UiDep) -> Response:
    """Save a new audience (or, without htmx, apply an editor button)."""
    service = service_of(ui)
    return unavailable(ui) if service is None else await _save(ui, service, None)


@router.post("/{audience_id}/edit")
async def update_audience(audience_id: str, ui: UiDep) -> Response:
    """Save an audience's changes (a changed definition is a new version)."""
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    audience = await _visible(ui, service, audience_id)
    if audience is None:
        return missing(ui, "audience", audience_id)
    return await _save(ui, service, audience)


async def _fragment(ui: Ui, name: str, work: Any) -> Response:
    """Run ``work(service, form, state, env, collection, audience)`` into a fragment, with
    any refusal shown inside it, and each condition's own problem (or none) beside it."""
    service = service_of(ui)
    if service is None:
        return ui.page(name, error="Audiences need the DuckDB event store.")
    form = await ui.form()
    state = from_form(form, text(form, "action"))
    try:
        env, collection, audience = await _scope(ui, service, form)
    except NotFound as exc:
        return ui.page(name, error=str(exc))
    problems = node_errors(state.tree, collection) if state.mode == "click" else {}
    try:
        context = await work(service, form, state, env, collection, audience)
    except (ValueError, LookupError) as exc:  # DefinitionError, Invalid, NotFound
        return ui.page(name, error=str(exc), node_errors=problems)
    except Exception as exc:  # a failing query must not become a 500 in the middle of a page
        log.exception("audience builder: %s failed", name)
        message = f"This could not be computed: {exc}"
        return ui.page(name, error=message, node_errors=problems)
    return ui.page(name, node_errors=problems, **context)


@router.post("/editor")
async def editor(ui: UiDep) -> Response:
    """The condition editor after one click, and a nudge for the live count to follow."""
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    form = await ui.form()
    state = from_form(form, text(form, "action"))
    try:
        env, collection, audience = await _scope(ui, service, form)
    except NotFound as exc:
        env, collection, audience = ui.env, model.USERS, None
        state.error = str(exc)
    context = await _editor_context(ui, service, state, env, collection, audience)
    response = ui.page("audiences/_editor.html", **context)
    # After the swap settles, not on arrival: the live count must post the new editor (a
    # switch to text mode included), or it counts the old one and points its per-condition
    # messages at elements that are gone.
    response.headers["HX-Trigger-After-Settle"] = "definition-changed"
    return response


@router.post("/preview")
async def preview(ui: UiDep) -> Response:
    """The exact count and a sample of the definition as it stands, computed live."""

    async def work(service: AudienceService, form: FormData, state: EditorState, env: str,
                   collection: str, audience: Audience | None) -> dict[str, Any]:  # fmt: skip
        found = await service.preview(ui.user, env, collection, state.definition(), SAMPLE)
        return {"result": found, "collection": collection, "space": env}

    return await _fragment(ui, "audiences/_preview.html", work)


@router.post("/explain")
async def explain(ui: UiDep) -> Response:
    """Each condition of the definition as it stands, for one profile: ✓ or ✗ and why."""

    async def work(service: AudienceService, form: FormData, state: EditorState, env: str,
                   collection: str, audience: Audience | None) -> dict[str, Any]:  # fmt: skip
        ref = text(form, "profile")
        if not ref:
            raise Invalid(
                "Type the profile to explain: email:jane@example.com, user_id:… or an id."
            )
        found = await service.explain(ui.user, env, collection, state.definition(), ref)
        return {"result": found, "collection": collection, "space": env}

    return await _fragment(ui, "audiences/_explain.html", work)
