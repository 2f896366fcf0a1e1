"""What the audience builder's form carries: the audience's settings and the definition
being edited (``EditorState``), read back from a post and checked before saving.

The settings are plain fields. The definition is either the text form (a textarea) or the
click editor's tree (a hidden JSON field plus one input per value, see ``audiences_tree``);
``from_form`` rebuilds it after any button and switches between the two forms, keeping
the same definition: the tree prints as ``to_text(tree)`` and the text reads as
``parse(text)``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from shoal.audiences import model
from shoal.audiences.repo import DEFAULT_INTERVAL_S, Audience
from shoal.audiences.text import parse, to_text
from shoal.web.ui.audiences_tree import act, empty, expand_tree, overlay
from shoal.web.ui.audiences_values import Draft, literal
from shoal.web.ui.render import ENVIRONMENTS, text

MAX_HOURS = 24 * 366


@dataclass
class EditorState:
    """The definition being built, in the click form (``tree``) or the text form."""

    mode: str
    tree: Draft
    text: str = ""
    error: str | None = None
    focus: str | None = None

    @classmethod
    def of(cls, definition: dict[str, Any] | None) -> EditorState:
        """The editor opened on a saved definition (or on everyone, for a new audience)."""
        return cls("click", expand_tree(copy.deepcopy(definition or empty())))

    def definition(self) -> Draft | str:
        """What the service is given: the text in the text form, else the tree."""
        return self.text if self.mode == "text" else self.tree

    def tree_json(self) -> str:
        """The hidden ``tree`` field."""
        return json.dumps(self.tree, ensure_ascii=False, separators=(",", ":"))


def from_form(form: FormData, action: str = "") -> EditorState:
    """The editor as the posted form left it, after the pressed button (if any)."""
    mode = "text" if form.get("mode") == "text" else "click"
    written = str(form.get("text") or "")
    try:
        tree = json.loads(str(form.get("tree") or ""))
    except ValueError:
        tree = None  # a forged or truncated field: start again from everyone
    state = EditorState(mode, tree if isinstance(tree, dict) else empty(), written)
    if mode == "click":
        state.tree = overlay(expand_tree(state.tree), form)
    if action == "mode:text" and mode == "click":
        try:
            state.text, state.mode = to_text(model.from_json(state.tree)), "text"
        except model.DefinitionError as exc:
            state.error = f"Finish the conditions first, then switch: {exc}"
    elif action == "mode:click" and mode == "text":
        try:
            state.tree, state.mode = expand_tree(model.to_builtins(parse(written))), "click"
        except model.DefinitionError as exc:
            state.error = str(exc)  # the parser's line, column and advice
    elif mode == "click" and ":" in action:
        state.tree, state.focus = act(state.tree, action, form)
    return state


def settings_of(audience: Audience | None, env: str) -> dict[str, Any]:
    """The settings fields of the form: an audience's, or a new one's defaults."""
    if audience is None:
        return {
            "name": "",
            "description": "",
            "collection": model.USERS,
            "refresh": "realtime",
            "hours": f"{DEFAULT_INTERVAL_S / 3600:g}",
            "hidden_from": [],
            "emit_events": True,
            "env": env,
        }
    return {
        "name": audience.name,
        "description": audience.description,
        "collection": audience.collection,
        "refresh": audience.refresh,
        "hours": f"{audience.interval_s / 3600:g}",
        "hidden_from": list(audience.hidden_from),
        "emit_events": audience.emit_events,
        "env": audience.environment,
    }


def posted_settings(form: FormData, default_env: str) -> dict[str, Any]:
    """The settings as posted (the space defaults to the one the switch shows)."""
    env = text(form, "env")
    return {
        "name": text(form, "name")[:200],
        "description": text(form, "description")[:2000],
        "collection": text(form, "collection") or model.USERS,
        "refresh": "scheduled" if text(form, "refresh") == "scheduled" else "realtime",
        "hours": text(form, "hours"),
        "hidden_from": [v for v in form.getlist("hidden_from") if isinstance(v, str)],
        "emit_events": form.get("emit_events") == "true",
        "env": env if env in ENVIRONMENTS else default_env,
    }


def check_settings(settings: dict[str, Any]) -> dict[str, str]:
    """Refusals of the settings by field, before the service sees them."""
    errors = {}
    if not settings["name"]:
        errors["name"] = "Give the audience a name, e.g. High value lapsed."
    hours = literal(settings["hours"])
    numeric = isinstance(hours, int | float) and not isinstance(hours, bool)
    if settings["refresh"] == "scheduled" and not (numeric and 0 < hours <= MAX_HOURS):
        errors["refresh"] = (
            "Refresh every N hours: a number of hours from one minute (0.017) to a year "
            f"({MAX_HOURS:,}), e.g. 4."
        )
    return errors


def body_of(settings: dict[str, Any], state: EditorState, member_ids: set[str]) -> dict[str, Any]:
    """What ``AudienceService.create``/``update`` take (after ``check_settings``)."""
    scheduled = settings["refresh"] == "scheduled"
    return {
        "name": settings["name"],
        "description": settings["description"],
        "collection": settings["collection"],
        "definition": state.definition(),
        "refresh": settings["refresh"],
        "interval_s": round(literal(settings["hours"]) * 3600) if scheduled else None,
        "emit_events": settings["emit_events"],
        "hidden_from": [m for m in settings["hidden_from"] if m in member_ids],
    }


def where_refused(message: str) -> str:
    """The field a refusal of the service (``Invalid``) belongs next to."""
    if message.startswith("unknown collection"):
        return "collection"
    if "refresh" in message:
        return "refresh"
    if "key" in message and "audience(" not in message:
        return "name"
    return "definition"
