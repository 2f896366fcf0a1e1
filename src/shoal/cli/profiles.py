"""``shoal profile show|events``: read profiles through the Profile API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli.client import Client
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, table

app = typer.Typer(help="Look up unified profiles (users and accounts).", no_args_is_help=True)
SpaceOption = Annotated[str, typer.Option("--space", help="dev or prod.")]
CollectionOption = Annotated[str, typer.Option("--collection", help="users or accounts.")]
IdArgument = Annotated[
    str, typer.Argument(help="<id_type>:<value> (e.g. email:jane@example.com) or a profile id.")
]


def _base(space: str, collection: str, external_id: str) -> str:
    return f"/spaces/{space}/collections/{collection}/profiles/{Client.quote(external_id)}"


@app.command("show")
def show(
    external_id: IdArgument,
    space: SpaceOption = "dev",
    collection: CollectionOption = "users",
    events: Annotated[int, typer.Option("--events", help="How many recent events.")] = 10,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A profile: metadata, traits, identities, accounts, merges and recent events."""
    api = client(url, token)
    base = _base(space, collection, external_id)
    found: dict[str, Any] = {
        "metadata": api.call("GET", f"{base}/metadata")["metadata"],
        "traits": api.call("GET", f"{base}/traits?limit=200")["traits"],
        "external_ids": api.call("GET", f"{base}/external_ids?limit=100")["data"],
        "links": api.call("GET", f"{base}/links")["data"],
        "merges": api.call("GET", f"{base}/merges")["data"],
        "events": api.call("GET", f"{base}/events?limit={max(1, min(events, 100))}")["data"],
    }
    if as_json:
        emit_json(found)
        return
    meta = found["metadata"]
    console.print(f"[bold]{meta['id']}[/bold]  created {meta['created_at']}")
    console.print(f"  last seen {meta['last_seen_at']}  merges {meta['merges']}")
    if found["traits"]:
        table([{"trait": k, "value": v} for k, v in found["traits"].items()], ("trait", "value"))
    table(found["external_ids"], ("type", "id", "source_id", "created_at"), title="Identities")
    for link in found["links"]:
        console.print(f"  linked {link['to_collection'][:-1]}: {link['id']}")
    for merge in found["merges"]:
        console.print(f"  merged {merge['from']} ({merge['message_id']}): {merge['reason']}")
    rows = [{**e, "name": e["event"] or e["type"]} for e in found["events"]]
    table(rows, ("timestamp", "type", "name", "source_id", "message_id"), title="Events")


@app.command("events")
def events_(
    external_id: IdArgument,
    space: SpaceOption = "dev",
    collection: CollectionOption = "users",
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 20,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A profile's events, newest first (anonymous and merged history included)."""
    data = client(url, token).call(
        "GET", f"{_base(space, collection, external_id)}/events?limit={limit}"
    )["data"]
    if as_json:
        emit_json(data)
        return
    rows = [{**e, "name": e["event"] or e["type"]} for e in data]
    table(rows, ("timestamp", "type", "name", "source_id", "message_id"))
