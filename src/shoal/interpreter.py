"""CPython settings for a long-running Shoal process: the cyclic collector and thread switching.

Collector: ingestion allocates many short-lived dicts. With CPython's default generation-0
threshold (700 allocations) the cyclic collector ran every few hundred messages and took
about 20% of the pipeline's CPU in profiles; collecting less often gave +25% throughput.

Thread switching: DuckDB's Python client takes the GIL back between every task of a query
it runs (to check for Ctrl-C), and a thread asking for the GIL waits until the holder's
switch interval ends, 5 ms by default. While the pipeline's Python code holds the GIL on
one thread, every store or identity write on another thread therefore stalls for 5 ms many
times per statement: eight small inserts in one transaction took 14 ms alone and 450 ms
beside a busy Python thread. At 0.5 ms they took 70 ms; the identity benchmark gained about
1.13x from this alone and 1.3x with the store's checkpoint threshold (docs/benchmarks.md,
"Fifth round"). Shorter intervals (0.1 and 0.05 ms) did no better.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.0005


def tune_interpreter() -> None:
    """Collect generation 0 every 100,000 allocations instead of every 700, and let a
    thread waiting for the GIL have it after 0.5 ms instead of 5 ms."""
    gc.set_threshold(100_000, 50, 1000)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_startup_objects() -> None:
    """Move what start-up allocated out of the collector's way (it lives forever)."""
    gc.collect()
    gc.freeze()
