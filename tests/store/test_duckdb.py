"""The embedded DuckDB store's own settings (behaviour shared with other stores is in
tests/contract/test_store.py)."""

from __future__ import annotations

from pathlib import Path

from shoal.settings import Settings
from shoal.store import open_store
from shoal.store.duckdb import DuckDBStore


async def _setting(store: DuckDBStore, name: str) -> str:
    rows = await store.query("SELECT current_setting(?)", [name])
    return str(rows[0][0])


async def test_the_checkpoint_threshold_defaults_above_duckdbs_own(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "events.duckdb")
    await store.start()
    try:
        # 64MB (decimal) as DuckDB reports it; its own default is 16MB.
        assert await _setting(store, "checkpoint_threshold") == "61.0 MiB"
    finally:
        await store.close()


async def test_settings_reach_the_store_through_its_url(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store_checkpoint_threshold="256MiB")
    store = open_store(
        settings.resolved_store_url(),
        memory_limit="300MB",
        checkpoint_threshold=settings.store_checkpoint_threshold,
    )
    assert isinstance(store, DuckDBStore)
    await store.start()
    try:
        assert await _setting(store, "checkpoint_threshold") == "256.0 MiB"
        assert await _setting(store, "memory_limit") == "286.1 MiB"
    finally:
        await store.close()
