"""``shoal member list|add``: the users of the workspace."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, table

app = typer.Typer(help="Workspace members (owners and members).", no_args_is_help=True)


@app.command("list")
def list_(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the workspace's users."""
    members = client(url, token).call("GET", "/members")["members"]
    if as_json:
        emit_json(members)
    else:
        table(members, ("id", "email", "name", "role"))


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The new user's e-mail address.")],
    name: Annotated[str, typer.Option("--name")] = "",
    role: Annotated[str, typer.Option("--role", help="member or owner.")] = "member",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user (owners only) and print their API token, shown this once."""
    added = client(url, token).call(
        "POST", "/members", {"email": email, "name": name, "role": role}
    )
    if as_json:
        emit_json(added)
        return
    console.print(f"Added {added['email']} as {added['role']} ({added['id']})")
    console.print(f"API token (shown once): [bold]{added['token']}[/bold]")
