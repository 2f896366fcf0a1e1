"""Diagnostic: what the identity stage's write would cost with less stored per event.

Runs the stage's phases one after another (``identity_resolution.run_phases``) with the
write cut down in ways a redesign of the identity tables could take, each on a fresh
DuckDB file, alternating the variants so the machine's drift hits them alike:

* ``base``: the write as it is;
* ``no-message``: the timeline rows without the message JSON (one stored copy of each
  message, with the event store's);
* ``no-profile-rows``: no ``identity_profiles`` rows at all (an upper bound for writing a
  profile's row only once it has traits or a second identifier);
* ``no-timeline-index``: no ART index on the timeline's profile column;
* ``all``: the three together.

The variants drop data the product needs; they exist only to size the redesign.

    .venv/bin/python bench/identity_write_variants.py            # ~4 minutes
    .venv/bin/python bench/identity_write_variants.py --reps 1   # ~2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

import duckdb

from common import install_watchdog, median, print_header, temp_dir
from identity_resolution import run_phases
from shoal.identity import duckdb_store, duckdb_write
from shoal.interpreter import tune_interpreter

VARIANTS: dict[str, set[str]] = {
    "base": set(),
    "no-message": {"message"},
    "no-profile-rows": {"profiles"},
    "no-timeline-index": {"index"},
    "all": {"message", "profiles", "index"},
}
_INSERT = duckdb_write.insert
_SCHEMA = duckdb_store.MIGRATIONS[0]
_TIMELINE_INDEX = "CREATE INDEX identity_events_pk ON identity_events (pk);"


def _apply(cuts: set[str]) -> None:
    def insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[Any]) -> None:
        if "message" in cuts and table == "identity_events":
            columns = [*columns[:8], [""] * len(columns[0])]
        if "profiles" in cuts and table == "identity_profiles":
            return
        _INSERT(con, table, columns)

    duckdb_write.insert = insert  # type: ignore[assignment]
    version, ddl = _SCHEMA
    if "index" in cuts:
        ddl = ddl.replace(_TIMELINE_INDEX, "")
    duckdb_store.MIGRATIONS[0] = (version, ddl)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    install_watchdog(1800)
    tune_interpreter()
    print_header(
        "Identity stage: the write's cost per event with less stored",
        None,
        [f"{args.events:,} events, {args.people:,} people, phases one after another"],
    )
    writes: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for rep in range(args.reps):
        for name, cuts in VARIANTS.items():
            _apply(cuts)
            phases = asyncio.run(run_phases(temp_dir(f"variant-{rep}"), args.events, args.people))
            writes[name].append(phases["write"])
            print(
                f"rep {rep + 1} {name:>18}: write {phases['write']:.1f} µs/event; all phases "
                f"{sum(phases.values()):.1f}",
                flush=True,
            )
    base = median(writes["base"])
    for name, runs in writes.items():
        print(f"{name:>18}: write median {median(runs):.1f} µs/event ({median(runs) / base:.2f}x)")


if __name__ == "__main__":
    main()
