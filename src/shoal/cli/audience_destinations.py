"""``shoal audience connect|connections|disconnect|replay``: keep a vendor-side list (a Meta
Custom Audience) in step with an audience."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli.client import Client
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.destination_base import DestArg, dest_id
from shoal.cli.output import console, emit_json, table

AudienceArg = Annotated[str, typer.Argument(help="The audience's id or key.")]


def _path(audience: str, *rest: str) -> str:
    return "/".join((f"/audiences/{Client.quote(audience)}/destinations", *rest))


def _row(c: dict[str, Any]) -> dict[str, Any]:
    pending = f"{c['pending_changes']}{'+' if c['pending_more'] else ''}"
    return {**c, "destination": f"{c['destination_name']} ({c['destination_id']})",
            "pending": pending}  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the commands to the ``shoal audience`` group."""
    app.command("connect")(connect)
    app.command("connections")(connections)
    app.command("disconnect")(disconnect)
    app.command("replay")(replay)


def connect(
    audience: AudienceArg,
    destination: DestArg,
    list_id: Annotated[
        str, typer.Option("--list-id", help="The vendor-side list, e.g. a Custom Audience id.")
    ],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep a list of a list-sync destination in step with an audience of users."""
    api = client(url, token)
    body = {"destination_id": dest_id(api, destination), "list_id": list_id}
    found = api.call("POST", _path(audience), body)
    if as_json:
        emit_json(found)
        return
    console.print(
        f"Connected {audience} to {found['destination_name']} list {found['list_id']}: "
        f"{found['pending_changes']} change(s) to sync first"
    )


def connections(
    audience: AudienceArg, url: UrlOption = None, token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """The audience's list syncs: how far each got, what is pending, the last error."""
    found = client(url, token).call("GET", _path(audience))["destinations"]
    if as_json:
        emit_json(found)
        return
    columns = ("destination", "list_id", "cursor", "pending", "added", "removed",
               "last_synced_at", "dead_letters", "last_error")  # fmt: skip
    table([_row(c) for c in found], columns, title=f"List syncs of {audience}")


def _on_connection(
    method: str, audience: str, destination: str, url: str | None, token: str | None, *rest: str
) -> tuple[str, Any]:
    """Call a connection's endpoint: the destination's id and the answer."""
    api = client(url, token)
    target = dest_id(api, destination)
    return target, api.call(method, _path(audience, Client.quote(target), *rest))


def disconnect(
    audience: AudienceArg, destination: DestArg, url: UrlOption = None,
    token: TokenOption = None, as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Stop syncing the audience to the destination (the vendor's list keeps its members)."""
    target, _ = _on_connection("DELETE", audience, destination, url, token)
    result = {"audience": audience, "destination_id": target, "disconnected": True}
    emit_json(result) if as_json else console.print(f"Disconnected {audience} from {target}")


def replay(
    audience: AudienceArg, destination: DestArg, url: UrlOption = None,
    token: TokenOption = None, as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Re-send the current membership of the profiles in the connection's dead letters."""
    _, found = _on_connection("POST", audience, destination, url, token, "replay")
    emit_json(found) if as_json else console.print(f"Replaying {found['replaying']} batch(es)")
