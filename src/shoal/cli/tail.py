"""``shoal tail SOURCE``: the debugger in the terminal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from shoal.cli.client import ApiError
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, fail


def line(event: dict[str, Any]) -> str:
    """One event as a line: time, status, type, name, who."""
    who = event.get("userId") or event.get("anonymousId") or "-"
    name = event.get("event") or event.get("name") or event.get("groupId") or ""
    status = event.get("status", "")
    colour = "green" if status == "accepted" else "red"
    text = (
        f"{event.get('receivedAt', '')}  [{colour}]{status:<8}[/{colour}]  "
        f"{event.get('type', ''):<8}  {escape(str(name))}  [dim]{escape(str(who))}[/dim]"
    )
    reason = event.get("reason")
    if isinstance(reason, dict):
        text += f"  [red]{escape(str(reason.get('message', '')))}[/red]"
    return text


def tail(
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    backlog: Annotated[int, typer.Option("--backlog", "-n", help="Show the last N first.")] = 10,
    only_rejected: Annotated[
        bool, typer.Option("--rejected", help="Only rejected events.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow a source's events live, as the pipeline stores them (Ctrl-C to stop)."""
    api = client(url, token)
    try:
        source_id = api.source_id(source)
        path = f"/sources/{source_id}/events/stream?backlog={backlog}"
        if only_rejected:
            path += "&status=rejected"
        if not as_json:
            console.print(f"[dim]Following {source_id}; Ctrl-C to stop[/dim]")
        for kind, data in api.stream(path):
            if kind != "message":
                continue
            event = json.loads(data)
            if as_json:
                typer.echo(json.dumps(event))
            else:
                console.print(line(event), highlight=False)
    except ApiError as exc:
        raise fail(exc.message) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
