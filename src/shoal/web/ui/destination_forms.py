"""What the guided setup's destination screens and the Destinations screens share.

Both build the settings form from the adapter's settings model (``settings_form``), read it
back (``read_new`` for a new destination, ``read_changes`` for an existing one), and send a
test event whose answers the page shows (``send_test``). The templates they fill are
``destinations/_settings_fields.html`` and ``destinations/_test_answer.html``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response

from shoal.control.repo import NotFound
from shoal.destinations.base import DestinationFactory
from shoal.onboarding import capabilities as caps
from shoal.web.ui.render import Ui, text
from shoal.web.ui.settings_form import PREFIX, form_fields, read_settings, shown_values

CLEAR = "clear."
"""A checkbox named ``clear.<key>`` removes a secret that is set."""


def find_factory(ui: Ui, type_name: str) -> DestinationFactory | None:
    """The adapter for a type name (or a category only one adapter has), else ``None``."""
    try:
        return caps.destination_factory(type_name, ui.runtime.destinations.types())
    except ValueError:
        return None


def settings_form(
    factory: DestinationFactory,
    settings: dict[str, Any],
    secrets_set: Iterable[str] = (),
    editing: bool = False,
) -> dict[str, Any]:
    """The template context of ``_settings_fields.html``: inputs, what they show, and for an
    existing destination which secrets are set (never their values)."""
    fields = form_fields(factory.settings_model)
    return {
        "fields": fields,
        "shown": shown_values(fields, settings),
        "secrets_set": sorted(secrets_set),
        "editing": editing,
    }


def chosen_sources(form: FormData) -> list[str]:
    """The source ids ticked on a destination form."""
    return [v for v in form.getlist("source_id") if isinstance(v, str) and v]


def read_new(factory: DestinationFactory, form: FormData) -> tuple[str, dict[str, Any]]:
    """The name and settings of a new destination from its form.

    Raises:
        ValueError: Without a name, or when a JSON input holds no JSON object.
    """
    name = checked_name(text(form, "name"))
    return name, read_settings(form_fields(factory.settings_model), form)


def checked_name(name: str) -> str:
    """A destination name as the Config API accepts it.

    Raises:
        ValueError: If it is empty or longer than 200 characters.
    """
    if not name:
        raise ValueError("Give the destination a name.")
    if len(name) > 200:
        raise ValueError("Keep the destination's name to 200 characters.")
    return name


def read_changes(factory: DestinationFactory, form: FormData) -> dict[str, Any]:
    """The settings change an edit form asks for, as ``DestinationService.update`` takes it.

    A plain input left blank goes back to its default (``None`` clears it); a secret left
    blank keeps its value unless its "remove" box is ticked.

    Raises:
        ValueError: When a JSON input holds no JSON object.
    """
    fields = form_fields(factory.settings_model)
    changes: dict[str, Any] = read_settings(fields, form)
    for field in fields:
        if field.kind == "secret":
            if form.get(CLEAR + field.key) == "true" and field.key not in changes:
                changes[field.key] = None
        elif field.key not in changes and field.input_name in form:
            changes[field.key] = None
    return changes


def form_values(form: FormData) -> dict[str, Any]:
    """What a refused form gives back to its inputs: the typed settings, never secrets."""
    settings = {
        key.removeprefix(PREFIX): value
        for key, value in form.multi_items()
        if key.startswith(PREFIX) and isinstance(value, str)
    }
    return {"name": text(form, "name"), "settings": settings, "source_ids": chosen_sources(form)}


async def send_test(ui: Ui, destination_id: str) -> dict[str, Any]:
    """Send a sample event now (mappings apply) and collect each answer of the vendor.

    Returns ``{"ok", "results"}``, or ``{"ok": False, "results": [], "error"}`` when the
    destination cannot be tested (gone, or its settings no longer valid).
    """
    try:
        results = await ui.runtime.destinations.test(ui.user, destination_id, None)
    except (NotFound, ValueError) as exc:
        return {"ok": False, "results": [], "error": str(exc)}
    return {"ok": bool(results) and all(r["ok"] for r in results), "results": results}


async def answer_test(
    ui: Ui,
    destination_id: str,
    test_action: str,
    page: Callable[[dict[str, Any]], Awaitable[Response]],
) -> Response:
    """Send a test event; answer htmx with just the "Send a test event" card (the page's
    address stays a GET, so reloading it never sends another), anyone else with ``page``."""
    test = await send_test(ui, destination_id)
    if ui.htmx:
        return ui.page("destinations/_test_section.html", test_action=test_action, test=test)
    return await page(test)
