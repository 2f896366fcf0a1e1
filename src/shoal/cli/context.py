"""Where the API commands find their server and token."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from shoal.cli.client import Client, saved_login

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
