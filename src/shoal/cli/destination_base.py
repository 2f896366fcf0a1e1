"""What every ``shoal destination`` command shares: arguments, finding a destination by
name, reading settings, and printing one destination (filters and mappings with FQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shoal.cli.client import Client
from shoal.cli.output import console, emit_json, fail

DestArg = Annotated[str, typer.Argument(help="Destination id or name.")]
SettingOption = Annotated[
    list[str] | None,
    typer.Option("--setting", "-s", help="KEY=VALUE (VALUE may be JSON); repeatable."),
]
SettingsFileOption = Annotated[Path | None, typer.Option("--settings-file")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help='JSON with "filters" and/or "mappings" (trees or "fql").'),
]


def dest_id(api: Client, ref: str) -> str:
    """The id of the destination ``ref`` names (an id, or a unique name)."""
    if ref.startswith("dst_"):
        return ref
    found = [d for d in api.call("GET", "/destinations")["destinations"] if d["name"] == ref]
    if len(found) != 1:
        raise fail(f"{len(found)} destinations are named {ref!r}; use the id")
    return str(found[0]["id"])


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or a one-line error naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {what} {path}: {exc}") from None


def settings_from(pairs: list[str] | None, file: Path | None) -> dict[str, Any]:
    """Settings from ``--settings-file`` and ``--setting KEY=VALUE`` (VALUE as JSON if it is)."""
    out: dict[str, Any] = read_json(file, "settings file") if file else {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise fail(f"--setting {pair!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def show(dest: dict[str, Any], as_json: bool, verb: str) -> None:
    """One destination, for people or as JSON."""
    if as_json:
        emit_json(dest)
        return
    console.print(f"{verb} destination [bold]{dest['name']}[/bold] ({dest['id']})")
    console.print(
        f"  type: {dest['type']} ({dest['category']})  environment: {dest['environment']}"
    )
    console.print(f"  enabled: {dest['enabled']}  sources: {', '.join(dest['source_ids']) or '-'}")
    console.print(f"  settings: {json.dumps(dest['settings'])}")
    console.print(f"  secrets set: {', '.join(dest['secrets_set']) or '-'}")
    for item in dest.get("filters") or []:
        actions = ", ".join(a["type"] for a in item["actions"])
        off = "" if item.get("enabled", True) else " (disabled)"
        console.print(
            f"  filter {item['title']!r}{off}: {actions} if {_text(item, 'if')}", markup=False
        )
    for item in dest.get("mappings") or []:
        console.print(
            f"  mapping {item['name']!r} -> {item['action']} when {_text(item, 'trigger')}",
            markup=False,
        )


def _text(item: dict[str, Any], tree_key: str) -> str:
    # FQL when the tree has a text form, else the JSON tree.
    return item.get("fql") or json.dumps(item.get(tree_key))
