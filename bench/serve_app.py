"""Benchmark launcher: ``shoal serve``'s exact app and uvicorn setup, plus no-op routes.

    python bench/serve_app.py --data-dir DIR --host 127.0.0.1 --port PORT

The app is built with :func:`shoal.web.app.create_app` like ``shoal serve`` does, served
by the same uvicorn configuration and server class in one process, and gets two extra
routes that do nothing, so that a load generator can measure the ceiling of the HTTP stack
next to the real endpoints in the same process:

* ``POST /bench/noop``  answers ``{"success":true}`` without reading the body.
* ``POST /bench/drain`` reads the whole body, then answers ``{"success":true}``.

They are dispatched before FastAPI exactly as ``/v1`` is (``ShoalApp.prefixes``), so
routing costs the same.

For diagnosing memory (``memory.py --diagnose``) there is also ``GET /bench/memory``:
VmRSS and friends, glibc malloc's view (``mallinfo2``), DuckDB's buffer manager
(``duckdb_memory()``) and, when ``SHOAL_BENCH_TRACEMALLOC=<frames>`` is set at start, the
largest Python allocation sites; ``?trim=1`` calls ``malloc_trim(0)`` first and reports
what it gave back. It reads the store's private DuckDB connection: benchmarks only.

``SHOAL_BENCH_PAUSE_PIPELINE=1`` stops the pipeline right after start-up (events stay in
the queue): a diagnostic to see what the HTTP edge alone can do on its core.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

import shoal.cli.serve as cli_serve
from shoal.interpreter import tune_interpreter
from shoal.runtime import Runtime
from shoal.settings import Settings
from shoal.web.app import ShoalApp, create_app

_SUCCESS = b'{"success":true}'


async def noop(_request: Request) -> Response:
    return Response(_SUCCESS, media_type="application/json")


async def drain(request: Request) -> Response:
    await request.body()
    return Response(_SUCCESS, media_type="application/json")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _proc_status() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[key] = int(value.split()[0])
    return out


def _mallinfo() -> dict[str, int]:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {
        "arena_bytes": info.arena,
        "mmap_bytes": info.hblkhd,
        "in_use_bytes": info.uordblks,
        "free_in_arenas_bytes": info.fordblks,
        "releasable_top_bytes": info.keepcost,
    }


def _duckdb(runtime: Runtime) -> dict[str, Any]:
    con = getattr(runtime.store, "_con", None)
    if con is None:
        return {}
    cur = con.cursor()
    try:
        tags = cur.execute(
            "SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory() "
            "WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0 "
            "ORDER BY memory_usage_bytes DESC"
        ).fetchall()
        size = cur.execute("SELECT memory_usage, memory_limit FROM pragma_database_size()")
        usage = size.fetchone()
    finally:
        cur.close()
    return {
        "by_tag_bytes": {tag: [mem, tmp] for tag, mem, tmp in tags},
        "memory_usage": usage[0] if usage else None,
        "memory_limit": usage[1] if usage else None,
    }


def memory_report(runtime: Runtime, trim: bool) -> dict[str, Any]:
    report: dict[str, Any] = {"before_trim": _proc_status()} if trim else {}
    if trim:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    report["proc_kb"] = _proc_status()
    report["malloc"] = _mallinfo()
    report["duckdb"] = _duckdb(runtime)
    report["gc_objects"] = len(gc.get_objects())
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("lineno")
        report["tracemalloc"] = {
            "traced_bytes": sum(s.size for s in stats),
            "overhead_bytes": tracemalloc.get_tracemalloc_memory(),
            "top": [
                {"where": str(s.traceback[0]), "bytes": s.size, "count": s.count}
                for s in stats[:20]
            ],
        }
    return report


def add_bench_routes(app: ShoalApp, runtime: Runtime) -> None:
    """Serve ``/bench/*`` the way ``/v1/*`` is served: dispatched before FastAPI."""

    async def memory(request: Request) -> Response:
        return JSONResponse(memory_report(runtime, request.query_params.get("trim") == "1"))

    table = {"/bench/noop": noop, "/bench/drain": drain, "/bench/memory": memory}

    async def bench(scope: Scope, receive: Receive, send: Send) -> None:
        # The same dispatch as shoal.collect.asgi.EdgeApp: a dict lookup, then the endpoint.
        handler = table.get(scope["path"])
        if handler is None:
            response: Response = JSONResponse({"code": "not_found"}, 404)
        else:
            response = await handler(Request(scope, receive))
        await response(scope, receive, send)

    app.prefixes = {"/bench/": bench, **app.prefixes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    frames = os.environ.get("SHOAL_BENCH_TRACEMALLOC")
    if frames:
        tracemalloc.start(int(frames))

    # Same steps and uvicorn.Config as shoal.cli.serve.serve (minus the start-up banner).
    settings = Settings(data_dir=args.data_dir, host=args.host, port=args.port)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tune_interpreter()  # as shoal serve does
    runtime = Runtime(settings)
    pause = os.environ.get("SHOAL_BENCH_PAUSE_PIPELINE") == "1"
    background: set[asyncio.Task[None]] = set()

    def on_started(rt: Runtime) -> None:
        if pause:
            task = asyncio.get_running_loop().create_task(rt.pipeline.stop())
            background.add(task)
            task.add_done_callback(background.discard)

    app = create_app(runtime, on_started=on_started)
    add_bench_routes(app, runtime)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = _server_class()(config)
    server.runtime = runtime  # type: ignore[attr-defined]
    exit_cleanly = getattr(cli_serve, "_exit_cleanly", None)
    if exit_cleanly is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, exit_cleanly)
    server.run()


def _server_class() -> type[uvicorn.Server]:
    """The uvicorn.Server subclass ``shoal serve`` uses (its private name has changed)."""
    factory = getattr(cli_serve, "_server_class", None)
    if factory is not None:
        built: type[uvicorn.Server] = factory()
        return built
    found: type[uvicorn.Server] = getattr(cli_serve, "_Server", uvicorn.Server)
    return found


if __name__ == "__main__":
    main()
