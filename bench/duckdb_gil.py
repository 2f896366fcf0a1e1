"""How much a DuckDB write slows down beside another thread of the same process.

The identity stage writes one round while it resolves the next, in two threads. This
measures the writer's side of that in isolation: an insert-and-commit loop (5,000 rows of
the shape of identifier mappings per transaction, two ART indexes, a fresh DuckDB file)
timed alone, beside a thread running pure Python (it holds the GIL), and beside a thread
running native code that releases the GIL (hashing a large buffer). The three conditions
alternate, so the machine's drift hits them alike; the report is each condition's median
and its ratio to "alone".

    .venv/bin/python bench/duckdb_gil.py             # ~1 minute
    .venv/bin/python bench/duckdb_gil.py --threads 1 # DuckDB with one thread
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import threading
import time
from collections.abc import Callable

import duckdb
import pyarrow as pa

from common import median, print_header, temp_dir
from shoal.interpreter import SWITCH_INTERVAL_S

ROWS = 5000


def _python_load(stop: threading.Event) -> None:
    table: dict[int, int] = {}
    while not stop.is_set():
        for i in range(1000):
            table[i] = i * 2


def _native_load(stop: threading.Event) -> None:
    data = b"x" * 4_000_000
    while not stop.is_set():
        hashlib.sha256(data).digest()  # releases the GIL for large buffers


def _round(rng: random.Random, start: int) -> pa.Table:
    keys = [rng.getrandbits(62) for _ in range(ROWS)]
    pks = [rng.getrandbits(62) for _ in range(ROWS)]
    values = [f"visitor-{start + i}" for i in range(ROWS)]
    messages = [f"bench-{start + i}" for i in range(ROWS)]
    return pa.table([keys, pks, values, messages], names=["key", "pk", "value", "message_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--rounds", type=int, default=10, help="transactions per timing")
    parser.add_argument("--reps", type=int, default=5, help="alternations")
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    print_header(
        "DuckDB insert-and-commit beside another thread",
        None,
        [f"{ROWS:,} rows x {args.rounds} transactions per timing, DuckDB threads={args.threads}"],
    )
    con = duckdb.connect(
        str(temp_dir("duckdb-gil") / "gil.duckdb"), config={"threads": str(args.threads)}
    )
    con.execute("CREATE TABLE ids (key BIGINT, pk BIGINT, value VARCHAR, message_id VARCHAR)")
    con.execute("CREATE INDEX ids_key ON ids (key)")
    con.execute("CREATE INDEX ids_pk ON ids (pk)")
    rng = random.Random(7)
    loads: dict[str, Callable[[threading.Event], None] | None] = {
        "alone": None,
        "beside Python": _python_load,
        "beside native code": _native_load,
    }
    timings: dict[str, list[float]] = {name: [] for name in loads}
    written = 0
    for _rep in range(args.reps):
        for name, load in loads.items():
            tables = [_round(rng, written + i * ROWS) for i in range(args.rounds)]
            written += args.rounds * ROWS
            stop = threading.Event()
            thread = threading.Thread(target=load, args=(stop,)) if load else None
            if thread:
                thread.start()
            start = time.perf_counter()
            for table in tables:
                con.execute("BEGIN TRANSACTION")
                con.from_arrow(table).insert_into("ids")
                con.execute("COMMIT")
            timings[name].append(time.perf_counter() - start)
            stop.set()
            if thread:
                thread.join()
    alone = median(timings["alone"])
    for name, runs in timings.items():
        per_round = median(runs) / args.rounds * 1000
        print(
            f"{name:>20}: median {per_round:.1f} ms per transaction, "
            f"{median(runs) / alone:.2f}x alone (runs: "
            + ", ".join(f"{r / args.rounds * 1000:.1f}" for r in runs)
            + ")"
        )
    con.close()


if __name__ == "__main__":
    main()
