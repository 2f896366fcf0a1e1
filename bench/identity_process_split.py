"""Experiment: identity resolution in a child process, its writes in the main process.

The in-process stage (bench/identity_resolution.py) resolves round N+1 in one thread
while another commits round N; both hold the GIL for much of their work, so the two
barely overlap. This experiment measures the alternative design: a child process runs
the identity stage's resolution (extraction, the in-memory graph, merges, the frozen
profile rows) and sends each round's changes back; the main process writes them to
DuckDB with the stage's own write, exactly as the stage does, while the child resolves
the next round. Nothing is shared but the pipe, so neither side waits for the other's GIL.

The child never needs the database here: every identifier it meets was created in this
run and is still in its cache, so the lookup round trip a real design needs for cache
misses is left out. That flatters the split design; the figure is an upper bound.

Each pair of runs alternates the in-process stage (the baseline) and the split design on
the same event mix, in fresh DuckDB files, and reports the medians and the ratio.

    .venv/bin/python bench/identity_process_split.py            # ~2 minutes
    .venv/bin/python bench/identity_process_split.py --quick    # ~40 seconds
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from common import install_watchdog, median, print_header, temp_dir, write_json_result
from identity_resolution import run_once
from shoal.identity import IdentityService
from shoal.identity.graph import Mapping, Merge, Profile, RoundChanges
from shoal.identity.rules import CompiledSettings, out_of_the_box
from shoal.identity.stage import IdentityStage
from shoal.interpreter import tune_interpreter
from shoal.spec.normalize import NormalizedEvent

_EVENTS = msgspec.msgpack.Decoder(list[NormalizedEvent])


class _NoStore:
    """The child's store: nothing stored before the run, and writes happen elsewhere."""

    async def fetch(self, keys: Any, pks: Any) -> tuple[list[tuple[Mapping, int]], list[Profile]]:
        return [], []

    async def write(self, changes: RoundChanges) -> None:
        return None

    async def known_keys(self) -> list[int]:
        return []

    async def recent_message_keys(self, limit: int) -> list[str]:
        return []


def _child(conn: Connection) -> None:
    """Resolve the rounds the parent sends; answer each with its changes."""
    tune_interpreter()
    rules = CompiledSettings(out_of_the_box())
    captured: list[RoundChanges] = []
    stage = IdentityStage(_NoStore(), lambda _w, _e: rules, captured.append)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    while data := conn.recv_bytes():
        events = _EVENTS.decode(data)
        if not events:  # the parent's "are you up?"
            conn.send_bytes(data)
            continue
        loop.run_until_complete(stage.process_committed(events))
        changes = captured.pop()
        index = {id(ev): i for i, ev in enumerate(events)}
        conn.send_bytes(
            msgspec.msgpack.encode(
                [
                    changes.mappings,
                    list(changes.rows.values()),
                    list(changes.created),
                    [
                        (m.space, m.collection, m.from_pk, m.into_pk, m.message_id,
                         m.source_id, m.timestamp, m.reason)
                        for m in changes.merges
                    ],
                    changes.links,
                    [(space, pk, index[id(ev)]) for space, pk, ev in changes.timeline],
                    [ev.profile_id for ev in events],
                ]
            )
        )  # fmt: skip
    loop.close()


def _changes(data: bytes, batch: list[NormalizedEvent]) -> RoundChanges:
    """The child's answer as the ``RoundChanges`` the stage's write takes."""
    mappings, rows, created, merges, links, timeline, ids = msgspec.msgpack.decode(data)
    changes = RoundChanges(
        mappings=[Mapping(*m) for m in mappings],
        created=set(created),
        merges=[Merge(*m) for m in merges],
        links=[tuple(link) for link in links],
        timeline=[(space, pk, batch[i]) for space, pk, i in timeline],
    )
    changes.rows = {row[1]: tuple(row) for row in rows}
    for ev, profile_id in zip(batch, ids, strict=True):
        ev.profile_id = profile_id
    return changes


async def run_split(root: Path, events: int, people: int) -> dict[str, Any]:
    """One run of the split design: ``run_once``, with rounds resolved by a child process."""
    context = multiprocessing.get_context("spawn")
    parent, child_end = context.Pipe()
    child = context.Process(target=_child, args=(child_end,), daemon=True)
    child.start()
    loop = asyncio.get_running_loop()

    async def submit(service: IdentityService, batch: list[NormalizedEvent]) -> Any:
        parent.send_bytes(msgspec.msgpack.encode(batch))
        answer = await loop.run_in_executor(None, parent.recv_bytes)
        return asyncio.ensure_future(service.store.write(_changes(answer, batch)))

    # The child is up and has imported everything before the clock starts.
    parent.send_bytes(msgspec.msgpack.encode([]))
    await loop.run_in_executor(None, parent.recv_bytes)
    try:
        return await run_once(root, events, people, submit=submit)
    finally:
        parent.send_bytes(b"")
        child.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200k events, 2 pairs")
    parser.add_argument("--json", help="Write the results to this file.")
    args = parser.parse_args()
    if args.quick:
        args.events, args.pairs = 200_000, 2
    install_watchdog(1800)
    tune_interpreter()
    print_header(
        "Identity resolution: in-process stage against resolution in a child process",
        None,
        [f"{args.events:,} events, {args.people:,} people, mix 70/20/7/3, alternating pairs"],
    )
    stage_runs, split_runs = [], []
    for pair in range(args.pairs):
        base = asyncio.run(run_once(temp_dir(f"split-base-{pair}"), args.events, args.people))
        split = asyncio.run(run_split(temp_dir(f"split-{pair}"), args.events, args.people))
        if split["profiles"] != base["profiles"]:
            raise SystemExit(f"the designs disagree: {split['profiles']} != {base['profiles']}")
        stage_runs.append(base)
        split_runs.append(split)
        print(
            f"pair {pair + 1}: in-process {base['events_per_s']:,.0f} events/s, "
            f"split {split['events_per_s']:,.0f} events/s "
            f"({base['profiles']:,} profiles in both)",
            flush=True,
        )
    ratios = [
        s["events_per_s"] / b["events_per_s"] for s, b in zip(split_runs, stage_runs, strict=True)
    ]
    in_process = median([b["events_per_s"] for b in stage_runs])
    split_median = median([s["events_per_s"] for s in split_runs])
    print(
        f"median: in-process {in_process:,.0f} events/s, split {split_median:,.0f} events/s; "
        f"ratio per pair {', '.join(f'{r:.2f}' for r in ratios)}, median {median(ratios):.2f}"
    )
    write_json_result(
        args.json,
        {"in_process": stage_runs, "split": split_runs, "ratio_median": median(ratios)},
    )


if __name__ == "__main__":
    main()
