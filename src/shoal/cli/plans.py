"""``shoal plan list|show|edit|violations``: tracking plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shoal.cli.client import ApiError, Client
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, fail, table

app = typer.Typer(help="Tracking plans: the events sources should send.", no_args_is_help=True)
PlanArg = Annotated[str, typer.Argument(help="Plan id or name.")]


def _plan_id(api: Client, ref: str) -> str:
    if ref.startswith("tp_"):
        return ref
    plans = api.call("GET", "/plans")["plans"]
    match = [p for p in plans if p["name"] == ref]
    if not match:
        raise ApiError(404, "not_found", f"no tracking plan is named {ref!r}")
    return str(match[0]["id"])


def _print(plan: dict[str, Any], schemas: bool = False) -> None:
    console.print(f"[bold]{plan['name']}[/bold] ({plan['id']}, version {plan['version']})")
    if plan["description"]:
        console.print(plan["description"])
    console.print(
        f"unplanned events: {plan['unplanned_events']}  "
        f"invalid properties: {plan['invalid_properties']}  "
        f"sources: {', '.join(plan['source_ids']) or 'none'}"
    )
    for event in plan["events"]:
        rows = [
            {
                "property": p["name"],
                "type": p["type"] or "any",
                "required": "yes" if p["required"] else "no",
            }
            for p in event["properties"]
        ]
        table(rows, ("property", "type", "required"), title=f"{event['name']} ({event['call']})")
        if schemas:
            typer.echo(json.dumps(event["json_schema"], indent=2))


@app.command("list")
def list_(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the workspace's tracking plans."""
    plans = client(url, token).call("GET", "/plans")["plans"]
    if as_json:
        emit_json(plans)
        return
    rows = [{**p, "events": len(p["events"]), "sources": len(p["source_ids"])} for p in plans]
    table(
        rows,
        ("id", "name", "version", "events", "sources", "unplanned_events", "invalid_properties"),
    )


@app.command("show")
def show(
    plan: PlanArg,
    schema: Annotated[bool, typer.Option("--schema", help="Print each JSON Schema.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a plan: policies, sources, events and their typed properties."""
    api = client(url, token)
    found = api.call("GET", f"/plans/{_plan_id(api, plan)}")
    if as_json:
        emit_json(found)
    else:
        _print(found, schema)


def _split(spec: str, what: str) -> tuple[str, str]:
    event, sep, rest = spec.rpartition(":")
    if not sep or not event or not rest:
        raise fail(f"{what} must look like 'EVENT:PROPERTY', got {spec!r}")
    return event, rest


def _edits(api: Client, plan_id: str, opts: dict[str, Any]) -> list[tuple[str, str, Any]]:
    q = Client.quote
    base = f"/plans/{plan_id}"
    calls: list[tuple[str, str, Any]] = []
    patch = {k: v for k, v in opts["patch"].items() if v is not None}
    if patch:
        calls.append(("PATCH", base, patch))
    if opts["file"] is not None:
        calls.append(("PUT", f"{base}/events", {"events": json.loads(opts["file"].read_text())}))
    for name in opts["add_event"]:
        calls.append(("POST", f"{base}/events", {"name": name, "call": opts["call"]}))
    for name in opts["remove_event"]:
        calls.append(("DELETE", f"{base}/events/{q(name)}", None))
    for spec in opts["property"]:
        event, rest = _split(spec, "--property")
        name, _, kind = rest.partition("=")
        required = not kind.endswith("?")
        kind = kind.rstrip("?")
        body = {"type": kind or None, "required": required}
        calls.append(("PUT", f"{base}/events/{q(event)}/properties/{q(name)}", body))
    for spec in opts["remove_property"]:
        event, name = _split(spec, "--remove-property")
        calls.append(("DELETE", f"{base}/events/{q(event)}/properties/{q(name)}", None))
    for ref in opts["attach"]:
        calls.append(("POST", f"{base}/sources", {"source_ids": [api.source_id(ref)]}))
    for ref in opts["detach"]:
        calls.append(("DELETE", f"{base}/sources/{api.source_id(ref)}", None))
    return calls


@app.command("edit")
def edit(
    plan: PlanArg,
    name: Annotated[str | None, typer.Option("--name", help="Rename the plan.")] = None,
    unplanned: Annotated[
        str | None, typer.Option("--unplanned", help="allow, flag or block unplanned events.")
    ] = None,
    invalid: Annotated[
        str | None, typer.Option("--invalid", help="allow, flag or block invalid events.")
    ] = None,
    add_event: Annotated[list[str] | None, typer.Option("--add-event", help="Event name.")] = None,
    call: Annotated[str, typer.Option("--call", help="Call of added events.")] = "track",
    remove_event: Annotated[list[str] | None, typer.Option("--remove-event")] = None,
    property: Annotated[
        list[str] | None,
        typer.Option(
            "--property", help="'EVENT:NAME=TYPE' (end with ? for optional; no type: any value)."
        ),
    ] = None,
    remove_property: Annotated[
        list[str] | None, typer.Option("--remove-property", help="'EVENT:NAME'.")
    ] = None,
    attach: Annotated[list[str] | None, typer.Option("--attach", help="Source id or name.")] = None,
    detach: Annotated[list[str] | None, typer.Option("--detach", help="Source id or name.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="JSON list of events replacing all events.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a plan: policies, events, properties and the sources it checks."""
    api = client(url, token)
    opts = {
        "patch": {"name": name, "unplanned_events": unplanned, "invalid_properties": invalid},
        "file": file,
        "add_event": add_event or [],
        "call": call,
        "remove_event": remove_event or [],
        "property": property or [],
        "remove_property": remove_property or [],
        "attach": attach or [],
        "detach": detach or [],
    }
    try:
        plan_id = _plan_id(api, plan)
        calls = _edits(api, plan_id, opts)
        if not calls:
            raise fail("nothing to change; see `shoal plan edit --help`")
        for method, path, body in calls:
            api.call(method, path, body)
        updated = api.call("GET", f"/plans/{plan_id}")
    except ApiError as exc:
        raise fail(exc.message) from None
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    if as_json:
        emit_json(updated)
    else:
        _print(updated)


@app.command("violations")
def violations(
    plan: PlanArg,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the newest events that broke the plan (flagged or blocked)."""
    api = client(url, token)
    found = api.call("GET", f"/plans/{_plan_id(api, plan)}/violations?limit={limit}")
    if as_json:
        emit_json(found["events"])
        return
    for event in found["events"]:
        label = event["event"] or event["type"]
        console.print(f"#{event['id']} {label} ({event['environment']}, {event['status']})")
        for v in event["violations"]:
            console.print(f"   {v['type']}: {v['message']}")
