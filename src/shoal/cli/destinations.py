"""``shoal destination``: types, create, list, get, update, connect, disconnect, enable,
disable, delete here; test, status, dead-letters and replay in ``destination_delivery``;
``filter`` and ``fql`` in ``destination_filters``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli import destination_delivery as delivery
from shoal.cli import destination_filters as filters
from shoal.cli.client import Client
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.destination_base import (
    ConfigOption,
    DestArg,
    SettingOption,
    SettingsFileOption,
    dest_id,
    read_json,
    settings_from,
    show,
)
from shoal.cli.output import console, emit_json, table

__all__ = ["SettingOption", "_dest_id", "_settings", "_source", "app"]
# The names ``shoal setup`` imported from here before the split.
_dest_id = dest_id
_settings = settings_from


def _source(api: Client, ref: str) -> str:
    return str(api.source_id(ref))


app = typer.Typer(help="Manage destinations (where events are delivered).", no_args_is_help=True)


@app.command("types")
def types(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the destination types this server has."""
    found = client(url, token).call("GET", "/destination-types")["types"]
    if as_json:
        emit_json(found)
        return
    rows = [{**t, "actions": ", ".join(a["name"] for a in t["actions"])} for t in found]
    table(rows, ("name", "title", "category", "actions"))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name unique within the environment.")],
    type: Annotated[str, typer.Option("--type", help="See `shoal destination types`.")],
    environment: Annotated[str, typer.Option("--env", help="dev or prod.")] = "dev",
    setting: SettingOption = None,
    settings_file: SettingsFileOption = None,
    config: ConfigOption = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Source to connect.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a destination (it gets events stored from now on)."""
    api = client(url, token)
    body: dict[str, Any] = read_json(config, "config") if config else {}
    body.update(
        name=name,
        type=type,
        environment=environment,
        enabled=not disabled,
        settings=settings_from(setting, settings_file),
        source_ids=[api.source_id(s) for s in source or []],
    )
    show(api.call("POST", "/destinations", body), as_json, "Created")


@app.command("list")
def list_(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the workspace's destinations."""
    found = client(url, token).call("GET", "/destinations")["destinations"]
    if as_json:
        emit_json(found)
    elif not found:
        console.print("No destinations yet: shoal destination create NAME --type webhook ...")
    else:
        table(found, ("id", "name", "type", "environment", "enabled", "source_ids"))


@app.command("get")
def get(
    dest: DestArg, url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Show one destination."""
    api = client(url, token)
    show(api.call("GET", f"/destinations/{dest_id(api, dest)}"), as_json, "Destination")


@app.command("update")
def update(
    dest: DestArg,
    setting: SettingOption = None,
    settings_file: SettingsFileOption = None,
    config: ConfigOption = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change settings, filters and mappings, or the name."""
    api = client(url, token)
    body: dict[str, Any] = read_json(config, "config") if config else {}
    if setting or settings_file:
        body["settings"] = settings_from(setting, settings_file)
    if name:
        body["name"] = name
    show(api.call("PATCH", f"/destinations/{dest_id(api, dest)}", body), as_json, "Updated")


def _action(
    dest: str, path: str, verb: str, url: str | None, token: str | None, as_json: bool
) -> None:
    api = client(url, token)
    show(api.call("POST", f"/destinations/{dest_id(api, dest)}/{path}"), as_json, verb)


@app.command("enable")
def enable(
    dest: DestArg, url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Start delivering (events stored from now on)."""
    _action(dest, "enable", "Enabled", url, token, as_json)


@app.command("disable")
def disable(
    dest: DestArg, url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Stop delivering."""
    _action(dest, "disable", "Disabled", url, token, as_json)


@app.command("connect")
def connect(
    dest: DestArg,
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a source's events to the destination."""
    api = client(url, token)
    body = {"source_id": api.source_id(source)}
    show(
        api.call("POST", f"/destinations/{dest_id(api, dest)}/sources", body), as_json, "Connected"
    )


@app.command("disconnect")
def disconnect(
    dest: DestArg,
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop sending a source's events to the destination."""
    api = client(url, token)
    path = f"/destinations/{dest_id(api, dest)}/sources/{api.source_id(source)}"
    show(api.call("DELETE", path), as_json, "Disconnected")


@app.command("delete")
def delete(
    dest: DestArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a destination with its dead letters."""
    api = client(url, token)
    found = dest_id(api, dest)
    if not yes:
        typer.confirm(f"Delete destination {found} and its dead letters?", abort=True)
    api.call("DELETE", f"/destinations/{found}")
    console.print(f"Deleted destination {found}")


app.command("test")(delivery.probe)
app.command("status")(delivery.status)
app.command("dead-letters")(delivery.dead_letters)
app.command("replay")(delivery.replay)
app.add_typer(filters.app, name="filter")
app.command("fql")(filters.fql)
