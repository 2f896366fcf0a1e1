"""``shoal source create|list|get|update|enable|disable|delete|rotate-key``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, table

app = typer.Typer(help="Manage sources (where events come from).", no_args_is_help=True)
_COLUMNS = ("id", "name", "type", "environment", "enabled", "write_key")


def _show(source: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(source)
        return
    console.print(f"{verb} source [bold]{source['name']}[/bold] ({source['id']})")
    console.print(f"  type: {source['type']}  environment: {source['environment']}")
    console.print(f"  write key: [bold]{source['write_key']}[/bold]")
    console.print(f"  enabled: {source['enabled']}  rate limit: {source['rate_limit'] or 'none'}")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name unique within the environment.")],
    type: Annotated[str, typer.Option("--type", help="website, mobile, server or http.")],
    environment: Annotated[str, typer.Option("--env", help="dev or prod.")] = "dev",
    rate_limit: Annotated[
        float | None, typer.Option("--rate-limit", help="Events per second.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a source and print its write key."""
    body: dict[str, Any] = {"name": name, "type": type, "environment": environment}
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    source = client(url, token).call("POST", "/sources", body)
    _show(source, as_json, "Created")


@app.command("list")
def list_(
    environment: Annotated[str | None, typer.Option("--env", help="dev or prod.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the workspace's sources."""
    path = "/sources" + (f"?environment={environment}" if environment else "")
    sources = client(url, token).call("GET", path)["sources"]
    if as_json:
        emit_json(sources)
    elif not sources:
        console.print("No sources yet. Create one: shoal source create NAME --type website")
    else:
        table(sources, _COLUMNS)


@app.command("get")
def get(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one source."""
    api = client(url, token)
    found = api.call("GET", f"/sources/{api.source_id(source)}")
    _show(found, as_json, "Source")


def _patch(source: str, body: dict[str, Any], url: str | None, token: str | None) -> Any:
    api = client(url, token)
    return api.call("PATCH", f"/sources/{api.source_id(source)}", body)


@app.command("update")
def update_(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    type: Annotated[str | None, typer.Option("--type")] = None,
    environment: Annotated[str | None, typer.Option("--env")] = None,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a source's name, type, environment or rate limit."""
    body = {
        key: value
        for key, value in (
            ("name", name),
            ("type", type),
            ("environment", environment),
            ("rate_limit", rate_limit),
        )
        if value is not None
    }
    _show(_patch(source, body, url, token), as_json, "Updated")


@app.command("enable")
def enable(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept events from this source's write key again."""
    _show(_patch(source, {"enabled": True}, url, token), as_json, "Enabled")


@app.command("disable")
def disable(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refuse events (401) from this source's write key until enabled again."""
    _show(_patch(source, {"enabled": False}, url, token), as_json, "Disabled")


@app.command("delete")
def delete(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a source (its stored events remain)."""
    api = client(url, token)
    source_id = api.source_id(source)
    if not yes and not as_json:
        typer.confirm(f"Delete source {source_id}? Its write key stops working", abort=True)
    api.call("DELETE", f"/sources/{source_id}")
    if as_json:
        emit_json({"id": source_id, "deleted": True})
    else:
        console.print(f"Deleted source {source_id}")


@app.command("rotate-key")
def rotate_key(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a new write key; the old key is refused from now on."""
    api = client(url, token)
    rotated = api.call("POST", f"/sources/{api.source_id(source)}/rotate-key")
    _show(rotated, as_json, "Rotated the write key of")
