"""``shoal destination``: types, create, list, get, update, connect, disconnect, enable,
disable, test, status, dead-letters, replay, delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shoal.cli.client import Client
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, fail, table

app = typer.Typer(help="Manage destinations (where events are delivered).", no_args_is_help=True)
DestArg = Annotated[str, typer.Argument(help="Destination id or name.")]
SettingOption = Annotated[
    list[str] | None,
    typer.Option("--setting", "-s", help="KEY=VALUE (VALUE may be JSON); repeatable."),
]


def _call(api: Client, method: str, path: str, body: Any = None) -> Any:
    return api.call(method, path, body)


def _dest_id(api: Client, ref: str) -> str:
    if ref.startswith("dst_"):
        return ref
    found = [d for d in _call(api, "GET", "/destinations")["destinations"] if d["name"] == ref]
    if len(found) != 1:
        raise fail(f"{len(found)} destinations are named {ref!r}; use the id")
    return str(found[0]["id"])


def _settings(pairs: list[str] | None, file: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(file.read_text()) if file else {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise fail(f"--setting {pair!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def _show(dest: dict[str, Any], as_json: bool, verb: str) -> None:
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


@app.command("types")
def types(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the destination types this server has."""
    found = _call(client(url, token), "GET", "/destination-types")["types"]
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
    settings_file: Annotated[Path | None, typer.Option("--settings-file")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Source to connect.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a destination (it gets events stored from now on)."""
    api = client(url, token)
    body = {
        "name": name,
        "type": type,
        "environment": environment,
        "enabled": not disabled,
        "settings": _settings(setting, settings_file),
        "source_ids": [_source(api, s) for s in source or []],
    }
    _show(_call(api, "POST", "/destinations", body), as_json, "Created")


def _source(api: Client, ref: str) -> str:
    return api.source_id(ref)


@app.command("list")
def list_(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the workspace's destinations."""
    found = _call(client(url, token), "GET", "/destinations")["destinations"]
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
    _show(_call(api, "GET", f"/destinations/{_dest_id(api, dest)}"), as_json, "Destination")


@app.command("update")
def update(
    dest: DestArg,
    setting: SettingOption = None,
    settings_file: Annotated[Path | None, typer.Option("--settings-file")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="JSON with filters and/or mappings.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change settings, filters and mappings, or the name."""
    api = client(url, token)
    body: dict[str, Any] = json.loads(config.read_text()) if config else {}
    if setting or settings_file:
        body["settings"] = _settings(setting, settings_file)
    if name:
        body["name"] = name
    _show(_call(api, "PATCH", f"/destinations/{_dest_id(api, dest)}", body), as_json, "Updated")


def _action(
    dest: str, path: str, verb: str, url: str | None, token: str | None, as_json: bool
) -> None:
    api = client(url, token)
    _show(_call(api, "POST", f"/destinations/{_dest_id(api, dest)}/{path}"), as_json, verb)


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
    body = {"source_id": _source(api, source)}
    _show(
        _call(api, "POST", f"/destinations/{_dest_id(api, dest)}/sources", body),
        as_json,
        "Connected",
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
    path = f"/destinations/{_dest_id(api, dest)}/sources/{_source(api, source)}"
    _show(_call(api, "DELETE", path), as_json, "Disconnected")


@app.command("test")
def test(
    dest: DestArg,
    event_file: Annotated[Path | None, typer.Option("--event", help="JSON event to send.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a sample (or given) event now and show the vendor's answer."""
    api = client(url, token)
    body = {"event": json.loads(event_file.read_text())} if event_file else {}
    data = _call(api, "POST", f"/destinations/{_dest_id(api, dest)}/test", body)
    if as_json:
        emit_json(data)
        return
    if not data["results"]:
        console.print("The event triggered no mapping; nothing was sent.")
    for r in data["results"]:
        mark = "[green]ok[/green]" if r["ok"] else "[red]failed[/red]"
        console.print(f"{r['action']}: {mark} status={r['status']} ({r['seconds']} s)")
        if r["error"]:
            console.print(f"  error: {r['error']}")
        console.print(f"  answer: {r['response'][:2000]}")
    if not data["ok"]:
        raise typer.Exit(1)


@app.command("status")
def status(
    dest: Annotated[
        str | None, typer.Argument(help="Destination id or name; all if omitted.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delivery metrics: delivered, retrying, failed, latency, backlog, last error."""
    api = client(url, token)
    names = {d["id"]: d["name"] for d in _call(api, "GET", "/destinations")["destinations"]}
    ids = [_dest_id(api, dest)] if dest else list(names)
    found = [{"name": names.get(i), **_call(api, "GET", f"/destinations/{i}/metrics")} for i in ids]
    if as_json:
        emit_json(found)
        return
    rows = [
        {
            **m,
            "p95_ms": m["latency_ms"]["p95"],
            "last_error": (m["last_error"] or "")[:60],
        }
        for m in found
    ]
    columns = ("name", "enabled", "delivered", "retrying", "failed", "filtered")
    table(rows, (*columns, "backlog", "p95_ms", "last_error"))


@app.command("dead-letters")
def dead_letters(
    dest: DestArg,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Payloads that failed for good, with the vendor's last answer."""
    api = client(url, token)
    data = _call(api, "GET", f"/destinations/{_dest_id(api, dest)}/dead-letters?limit={limit}")
    if as_json:
        emit_json(data)
        return
    console.print(f"{data['total']} dead letter(s)")
    table(data["dead_letters"], ("id", "message_id", "action", "status", "reason", "replayed_at"))


@app.command("replay")
def replay(
    dest: DestArg,
    start: Annotated[str | None, typer.Option("--from", help="ISO 8601; with --to.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO 8601.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-send all pending dead letters, or the events received in [--from, --to)."""
    api = client(url, token)
    body = {"from": start, "to": end} if start or end else {}
    job = _call(api, "POST", f"/destinations/{_dest_id(api, dest)}/replay", body)
    if as_json:
        emit_json(job)
    else:
        console.print(f"Replay {job['id']} started ({job['kind']})")


@app.command("delete")
def delete(
    dest: DestArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a destination with its dead letters."""
    api = client(url, token)
    dest_id = _dest_id(api, dest)
    if not yes:
        typer.confirm(f"Delete destination {dest_id} and its dead letters?", abort=True)
    _call(api, "DELETE", f"/destinations/{dest_id}")
    console.print(f"Deleted destination {dest_id}")
