"""``shoal serve``: everything in one process on the embedded default."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shoal import __version__
from shoal.cli.context import local_settings
from shoal.interpreter import freeze_startup_objects, tune_interpreter

if TYPE_CHECKING:
    from shoal.runtime import Runtime


def _server_class() -> type[Any]:
    """uvicorn's Server, told to end live streams first so Ctrl-C never waits on a tab.

    Built on first use: importing uvicorn and the app costs ~2 s, which every other CLI
    command would otherwise pay.
    """
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        runtime: Runtime

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            loop = getattr(self, "_loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(self.runtime.begin_shutdown)
            super().handle_exit(sig, frame)

        async def serve(self, sockets: Any = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

    return Server


def _announce(runtime: Runtime, base: str) -> None:
    freeze_startup_objects()
    settings = runtime.settings
    out = sys.stderr
    print(f"Shoal {__version__} is running at {base}", file=out)
    print(f"  data dir: {settings.data_dir.resolve()}", file=out)
    print(f"  send events to {base}/v1 with a source's write key", file=out)
    first = runtime.first_start
    if first is None:
        return
    print("", file=out)
    print(
        f"First start: created workspace {first.workspace.name!r} ({first.workspace.id})", file=out
    )
    print(f"and its owner {first.owner.email}.", file=out)
    if first.token_from_env:
        print("The owner's API token is the value of SHOAL_ADMIN_TOKEN.", file=out)
        token = "$SHOAL_ADMIN_TOKEN"
    else:
        print(f"The owner's API token (shown only now; keep it): {first.token}", file=out)
        token = first.token
    print("Sign in from the command line:", file=out)
    print(f"  shoal login --url {base} --token {token}", file=out)
    print(f"or call the Config API with 'Authorization: Bearer {token}'.", file=out)
    print("Lost it? `shoal token create --data-dir DIR` issues a new one.", file=out)


def serve(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where data lives (./shoal-data).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (8088).")] = None,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="URL SDKs should use, if proxied.")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = False,
) -> None:
    """Start collection, the pipeline and the Config API in one process."""
    import uvicorn

    from shoal.runtime import Runtime
    from shoal.web.app import create_app

    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("data_dir", data_dir),
            ("host", host),
            ("port", port),
            ("public_url", public_url),
        )
        if value is not None
    }
    settings = local_settings(**overrides)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = Runtime(settings)
    display_host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{display_host}:{settings.port}"
    app = create_app(runtime, on_started=lambda rt: _announce(rt, base))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level.lower(),
        access_log=access_log,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    tune_interpreter()
    server = _server_class()(config)
    server.runtime = runtime
    # uvicorn shuts down gracefully, then re-raises the signal through the handler that was
    # in place before it started; make that a plain exit 0, as the stop was clean.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)
    server.run()


def _exit_cleanly(_sig: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)
