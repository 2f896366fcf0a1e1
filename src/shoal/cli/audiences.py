"""``shoal audience create|list|show|preview|explain|refresh|members|history``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shoal.cli import audience_destinations
from shoal.cli.client import Client
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, table
from shoal.wording import counted

app = typer.Typer(help="Define and inspect audiences (segments).", no_args_is_help=True)
SpaceOption = Annotated[str, typer.Option("--space", help="dev or prod.")]
CollectionOption = Annotated[
    str, typer.Option("--collection", help="users, accounts or an object collection.")
]
DefinitionArgument = Annotated[
    str,
    typer.Argument(
        help="The definition: its text form (event('Order Completed').count() >= 2), a JSON "
        "tree, or @file to read either from a file."
    ),
]
AudienceArgument = Annotated[str, typer.Argument(help="The audience's id or key.")]


def _definition(raw: str) -> Any:
    """Text form, JSON, or ``@file`` holding either."""
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw = path.read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"the JSON definition is invalid: {exc}") from None
    return stripped


def _row(member: dict[str, Any]) -> dict[str, Any]:
    idents = member.get("identifiers") or member.get("attributes") or {}
    return {"id": member.get("id"), "identifiers": ", ".join(f"{k}={v}" for k, v in idents.items())}


def _show(audience: dict[str, Any]) -> None:
    size = "-" if audience["size"] is None else f"{audience['size']:,}"
    console.print(f"[bold]{audience['name']}[/bold] ({audience['key']}, {audience['id']})")
    console.print(f"  {audience['space']} · {audience['collection']} · v{audience['version']}")
    console.print(f"  refresh {audience['refresh']}" + (
        f" every {audience['interval_s']} s" if audience["refresh"] == "scheduled" else ""
    ))  # fmt: skip
    console.print(
        f"  status {audience['status']} · size {size} · computed {audience['computed_at']}"
    )
    if audience.get("error"):
        console.print(f"  [red]error: {audience['error']}[/red]")
    console.print(f"  {audience['text']}")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Display name; the key is derived from it.")],
    definition: DefinitionArgument,
    space: SpaceOption = "dev",
    collection: CollectionOption = "users",
    key: Annotated[str | None, typer.Option("--key", help="snake_case key.")] = None,
    scheduled: Annotated[
        int | None,
        typer.Option(
            "--every", help="Refresh on a schedule, every N seconds (default: real time)."
        ),
    ] = None,
    no_events: Annotated[
        bool, typer.Option("--no-events", help="Do not emit Audience Entered/Exited events.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an audience; its first computation starts at once."""
    body: dict[str, Any] = {
        "name": name, "space": space, "collection": collection,
        "definition": _definition(definition), "emit_events": not no_events,
    }  # fmt: skip
    if key:
        body["key"] = key
    if scheduled is not None:
        body.update(refresh="scheduled", interval_s=scheduled)
    created = client(url, token).call("POST", "/audiences", body)
    emit_json(created) if as_json else _show(created)


@app.command("list")
def list_(
    space: Annotated[
        str | None, typer.Option("--space", help="dev or prod (default both).")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audiences you can see, with their cached sizes."""
    path = "/audiences" + (f"?space={space}" if space else "")
    found = client(url, token).call("GET", path)["audiences"]
    if as_json:
        emit_json(found)
        return
    table(found, ("key", "name", "space", "collection", "refresh", "status", "size", "computed_at"))


@app.command("show")
def show(
    audience: AudienceArgument, url: UrlOption = None, token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """One audience: definition, status, size and when it was computed."""
    found = client(url, token).call("GET", f"/audiences/{Client.quote(audience)}")
    emit_json(found) if as_json else _show(found)


@app.command("preview")
def preview(
    definition: DefinitionArgument,
    space: SpaceOption = "dev",
    collection: CollectionOption = "users",
    sample: Annotated[int, typer.Option("--sample", min=0, max=100)] = 10,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Exact count and a sample of a definition, without saving it."""
    body = {"space": space, "collection": collection, "definition": _definition(definition),
            "sample": sample}  # fmt: skip
    found = client(url, token).call("POST", "/audiences/preview", body)
    if as_json:
        emit_json(found)
        return
    count = found["count"]
    # "users" / "accounts": one match reads "1 user matches".
    who = counted(count, collection.removesuffix("s"))
    console.print(f"[bold]{who}[/bold] {'matches' if count == 1 else 'match'}  {found['text']}")
    rows = [_row(m) for m in found["sample"]]
    table(rows, ("id", "identifiers"), title="Sample")


@app.command("explain")
def explain(
    audience: AudienceArgument,
    profile: Annotated[str, typer.Argument(help="id_type:value (email:jane@example.com).")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Why a profile is in an audience or not: every condition's result and value."""
    found = client(url, token).call(
        "POST", f"/audiences/{Client.quote(audience)}/explain", {"profile": profile}
    )
    if as_json:
        emit_json(found)
        return
    verdict = "[green]is a member[/green]" if found["member"] else "[red]is not a member[/red]"
    console.print(f"{found['profile']['id']} {verdict}")
    for cond in found["conditions"]:
        mark = "[green]✓[/green]" if cond["result"] else "[red]✗[/red]"
        seen = "" if cond["value"] is None else f"  (value: {cond['value']})"
        console.print(f"{'  ' * cond['depth']}{mark} {cond['condition']}{seen}")


@app.command("refresh")
def refresh(
    audience: AudienceArgument, url: UrlOption = None, token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Recompute now and print what changed."""
    found = client(url, token).call("POST", f"/audiences/{Client.quote(audience)}/refresh")
    if as_json:
        emit_json(found)
        return
    console.print(
        f"{found['audience']['key']}: {counted(found['size'], 'member')} "
        f"(+{found['entered']:,} / -{found['exited']:,}) in {found['seconds']} s"
    )


@app.command("members")
def members(
    audience: AudienceArgument,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The cached members, with their identifiers."""
    found = client(url, token).call(
        "GET", f"/audiences/{Client.quote(audience)}/members?limit={limit}"
    )
    if as_json:
        emit_json(found)
        return
    rows = [_row(m) for m in found["members"]]
    table(
        rows,
        ("id", "identifiers"),
        title=f"{counted(found['size'], 'member')}, computed {found['computed_at']}",
    )


@app.command("history")
def history(
    audience: AudienceArgument,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who entered and exited when, and the size over time."""
    found = client(url, token).call(
        "GET", f"/audiences/{Client.quote(audience)}/history?limit={limit}"
    )
    if as_json:
        emit_json(found)
        return
    table(found["changes"], ("at", "change", "profile", "version"), title="Changes")
    table(found["sizes"], ("measured_at", "size", "entered", "exited", "version"), title="Size")


audience_destinations.register(app)  # connect, connections, disconnect, replay
