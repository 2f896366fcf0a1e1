"""The ``shoal`` command: ``serve`` plus clients of the Config API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from shoal import __version__
from shoal.cli import audiences as audiences_cli
from shoal.cli import destinations, members, plans, setup, sources, tail, usecases
from shoal.cli import identity as identity_cli
from shoal.cli import profiles as profiles_cli
from shoal.cli import serve as serve_module
from shoal.cli.client import ApiError, save_login
from shoal.cli.context import JsonOption, TokenOption, UrlOption, client, local_settings
from shoal.cli.output import console, emit_json, fail


class _Commands(TyperGroup):
    """The root command group: an API error from any command is one line and exit 1."""

    # Typer's group takes its bundled click's Context, which it exports only privately.
    def invoke(self, ctx: Any) -> object:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise fail(exc.message) from None


app = typer.Typer(
    cls=_Commands,
    name="shoal",
    help="Shoal: an open-source customer data platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_module.serve)
app.add_typer(sources.app, name="source")
app.command("tail")(tail.tail)
app.add_typer(usecases.app, name="usecases")
app.add_typer(setup.app, name="setup")
app.add_typer(plans.app, name="plan")
app.add_typer(members.app, name="member")
app.add_typer(destinations.app, name="destination")
app.add_typer(destinations.app, name="destinations", hidden=True)  # the plural works too
app.add_typer(profiles_cli.app, name="profile")
app.add_typer(identity_cli.app, name="identity")
app.add_typer(audiences_cli.app, name="audience")
app.add_typer(audiences_cli.app, name="audiences", hidden=True)

token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shoal {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Shoal: an open-source customer data platform."""


@app.command("login")
def login(
    url: Annotated[str, typer.Option("--url", help="Server URL.")] = "http://127.0.0.1:8088",
    token: Annotated[str, typer.Option("--token", prompt=True, hide_input=True)] = "",
) -> None:
    """Check a token against a server and remember both for later commands."""
    try:
        me = client(url, token).call("GET", "/me")
    except ApiError as exc:
        raise fail(exc.message) from None
    path = save_login(url, token)
    console.print(f"Signed in to {url} as {me['email']} ({me['role']}); saved in {path}")


@app.command("status")
def status(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Queue lag, stored events and pipeline health."""
    try:
        data = client(url, token).call("GET", "/status")
    except ApiError as exc:
        raise fail(exc.message) from None
    if as_json:
        emit_json(data)
        return
    pipe = data["pipeline"]
    console.print(f"queue lag: {data['queue']['lag']}  stored events: {data['store']['events']}")
    console.print(
        f"pipeline: {pipe['stored']} stored, {pipe['rejected']} rejected, "
        f"{pipe['duplicates']} duplicates since start"
    )
    if pipe["last_error"]:
        console.print(f"[red]last error:[/red] {pipe['last_error']}")


@token_app.command("create")
def token_create(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The server's data dir.")] = Path(
        "./shoal-data"
    ),
    name: Annotated[str, typer.Option("--name")] = "cli",
) -> None:
    """Issue a new owner token straight from the data dir (for a lost token)."""
    from shoal.control import ControlPlane, NotFound

    settings = local_settings(data_dir=data_dir)
    if not (data_dir / "control.db").exists() and settings.control_url is None:
        raise fail(f"{data_dir} has no Shoal data; start `shoal serve --data-dir {data_dir}` once")
    control = ControlPlane(settings.resolved_control_url())
    try:
        control.migrate()
        owner = control.owner()
    except NotFound as exc:
        raise fail(str(exc)) from None
    typer.echo(control.create_token(owner.id, name))
