"""Where the API commands find their server and token, and local commands their settings."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shoal.cli.client import Client, saved_login

if TYPE_CHECKING:
    from shoal.settings import Settings

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Server URL (env SHOAL_URL; default http://127.0.0.1:8088)."),
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="API token (env SHOAL_TOKEN, or `shoal login`).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def client(url: str | None, token: str | None) -> Client:
    """Flags first, then environment, then what ``shoal login`` saved."""
    saved = saved_login()
    resolved_url = url or os.environ.get("SHOAL_URL") or saved.get("url") or "http://127.0.0.1:8088"
    resolved_token = token or os.environ.get("SHOAL_TOKEN") or saved.get("token")
    return Client(resolved_url, resolved_token)


def local_settings(**overrides: Any) -> Settings:
    """``SHOAL_*`` settings with flags on top; invalid ones end the command with one line
    each, naming the variable (exit 2), instead of a traceback."""
    from pydantic import ValidationError

    from shoal.settings import Settings, settings_errors

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Plain echo, not rich: a long line must not wrap, and values may contain [markup].
        for line in settings_errors(exc):
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
