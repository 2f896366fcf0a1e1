"""``shoal destination`` commands about delivery: test, status, dead-letters, replay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.destination_base import DestArg, dest_id, read_json
from shoal.cli.output import console, emit_json, table


def probe(
    dest: DestArg,
    event_file: Annotated[Path | None, typer.Option("--event", help="JSON event to send.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a sample (or given) event now and show the vendor's answer."""
    api = client(url, token)
    body = {"event": read_json(event_file, "event file")} if event_file else {}
    data = api.call("POST", f"/destinations/{dest_id(api, dest)}/test", body)
    if as_json:
        emit_json(data)
        return
    if not data["results"]:
        console.print("The event triggered no mapping; nothing was sent.")
    for r in data["results"]:
        mark = "[green]ok[/green]" if r["ok"] else "[red]failed[/red]"
        console.print(f"{r['action']}: {mark} status={r['status']} ({r['seconds']} s)")
        if r["error"]:
            console.print(f"  error: {r['error']}")
        console.print(f"  answer: {r['response'][:2000]}")
    if not data["ok"]:
        raise typer.Exit(1)


def status(
    dest: Annotated[
        str | None, typer.Argument(help="Destination id or name; all if omitted.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delivery metrics: delivered, retrying, failed, latency, backlog, last error."""
    api = client(url, token)
    names = {d["id"]: d["name"] for d in api.call("GET", "/destinations")["destinations"]}
    ids = [dest_id(api, dest)] if dest else list(names)
    found = [{"name": names.get(i), **api.call("GET", f"/destinations/{i}/metrics")} for i in ids]
    if as_json:
        emit_json(found)
        return
    rows = [
        {
            **m,
            "p95_ms": m["latency_ms"]["p95"],
            "last_error": (m["last_error"] or "")[:60],
        }
        for m in found
    ]
    columns = ("name", "enabled", "delivered", "retrying", "failed", "filtered")
    table(rows, (*columns, "backlog", "p95_ms", "last_error"))


def dead_letters(
    dest: DestArg,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Payloads that failed for good, with the vendor's last answer."""
    api = client(url, token)
    data = api.call("GET", f"/destinations/{dest_id(api, dest)}/dead-letters?limit={limit}")
    if as_json:
        emit_json(data)
        return
    console.print(f"{data['total']} dead letter(s)")
    table(data["dead_letters"], ("id", "message_id", "action", "status", "reason", "replayed_at"))


def replay(
    dest: DestArg,
    start: Annotated[str | None, typer.Option("--from", help="ISO 8601; with --to.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO 8601.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-send all pending dead letters, or the events received in [--from, --to)."""
    api = client(url, token)
    body = {"from": start, "to": end} if start or end else {}
    job = api.call("POST", f"/destinations/{dest_id(api, dest)}/replay", body)
    if as_json:
        emit_json(job)
    else:
        console.print(f"Replay {job['id']} started ({job['kind']})")
