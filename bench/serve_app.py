"""Benchmark launcher: ``shoal serve``'s exact app and uvicorn setup, plus no-op routes.

    python bench/serve_app.py --data-dir DIR --host 127.0.0.1 --port PORT

The app is built with :func:`shoal.web.app.create_app` like ``shoal serve`` does, served
by the same uvicorn configuration and server class in one process, and gets two extra
routes that do nothing, so that a load generator can measure the ceiling of the HTTP stack
next to the real endpoints in the same process:

* ``POST /bench/noop``  answers ``{"success":true}`` without reading the body.
* ``POST /bench/drain`` reads the whole body, then answers ``{"success":true}``.

They sit in a mount placed right before the ``/v1`` mount, so routing costs the same.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from shoal.cli.serve import _Server
from shoal.runtime import Runtime
from shoal.settings import Settings
from shoal.web.app import create_app

_SUCCESS = b'{"success":true}'


async def noop(_request: Request) -> Response:
    return Response(_SUCCESS, media_type="application/json")


async def drain(request: Request) -> Response:
    await request.body()
    return Response(_SUCCESS, media_type="application/json")


def add_bench_routes(app: FastAPI) -> None:
    """Insert ``/bench/*`` just before the ``/v1`` mount."""
    bench = Mount(
        "/bench",
        Starlette(
            routes=[
                Route("/noop", noop, methods=["POST"]),
                Route("/drain", drain, methods=["POST"]),
            ]
        ),
    )
    routes = app.router.routes
    position = next(
        (i for i, r in enumerate(routes) if isinstance(r, Mount) and r.path == "/v1"),
        len(routes),
    )
    routes.insert(position, bench)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()

    # Same steps and uvicorn.Config as shoal.cli.serve.serve (minus the start-up banner).
    settings = Settings(data_dir=args.data_dir, host=args.host, port=args.port)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = Runtime(settings)
    app = create_app(runtime)
    add_bench_routes(app)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = _Server(config)
    server.runtime = runtime
    server.run()


if __name__ == "__main__":
    main()
