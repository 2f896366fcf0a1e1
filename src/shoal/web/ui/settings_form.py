"""An HTML form for a destination adapter's settings, built from its pydantic settings model.

Each field of the model becomes an input: secrets (``SecretStr``) are password inputs that
are never filled back in, booleans are checkboxes, ``Literal`` choices are selects, numbers
are number inputs and dictionaries (such as webhook headers) are JSON text areas. The posted
form is turned back into a settings dict; the adapter's model validates it on the server,
as the destinations API does.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from starlette.datastructures import FormData

from shoal.destinations.base import secret_fields

Kind = Literal["secret", "bool", "choice", "number", "json", "text"]
ACRONYMS = {"url": "URL", "api": "API", "id": "ID", "sid": "SID", "dsn": "DSN", "rest": "REST"}
PREFIX = "setting."
"""Form inputs are named ``setting.<key>`` so they cannot clash with the page's own fields."""


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of the settings form."""

    key: str
    """The settings key (the field's alias when it has one)."""
    label: str
    kind: Kind
    required: bool
    default: str
    """The default as the input shows it ('' for none)."""
    help: str
    choices: tuple[str, ...] = ()

    @property
    def input_name(self) -> str:
        """The form input's name."""
        return PREFIX + self.key


def _label(name: str) -> str:
    words = [ACRONYMS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _kind(annotation: Any, secret: bool) -> tuple[Kind, tuple[str, ...]]:
    inner = _unwrap(annotation)
    if secret or inner is SecretStr:
        return "secret", ()
    if inner is bool:
        return "bool", ()
    if typing.get_origin(inner) is Literal:
        return "choice", tuple(str(v) for v in typing.get_args(inner))
    if inner in (int, float):
        return "number", ()
    if inner is dict or typing.get_origin(inner) is dict:
        return "json", ()
    return "text", ()


def _shown(value: Any) -> str:
    if value is None or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value) if value else ""
    return str(value)


def form_fields(model: type[BaseModel]) -> list[FormField]:
    """The inputs for a settings model, in the model's order."""
    secrets = set(secret_fields(model))
    out = []
    for name, info in model.model_fields.items():
        kind, choices = _kind(info.annotation, name in secrets)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        out.append(
            FormField(
                key=info.alias or name,
                label=_label(info.alias or name),
                kind=kind,
                required=info.is_required(),
                default=_shown(default),
                help=info.description or "",
                choices=choices,
            )
        )
    return out


def read_settings(fields: list[FormField], form: FormData) -> dict[str, Any]:
    """The settings a posted form gives; blank inputs are left out (the default applies).

    Raises:
        ValueError: If a JSON input does not hold a JSON object.
    """
    settings: dict[str, Any] = {}
    for field in fields:
        values = [v for v in form.getlist(field.input_name) if isinstance(v, str)]
        if field.kind == "bool":
            # A hidden "false" comes first; a checked box adds "true" after it.
            if values:
                settings[field.key] = values[-1] == "true"
            continue
        value = values[-1].strip() if values else ""
        if not value:
            continue
        if field.kind == "json":
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                example = '{"X-Team": "web"}'
                raise ValueError(f"{field.label}: write a JSON object, e.g. {example}")
            settings[field.key] = parsed
        else:
            settings[field.key] = value
    return settings


def shown_values(fields: list[FormField], settings: dict[str, Any]) -> dict[str, str]:
    """What each input shows: the value given (never a secret), else its default."""
    out = {}
    for field in fields:
        given = settings.get(field.key)
        out[field.key] = "" if field.kind == "secret" else _shown(given) or field.default
    return out
