"""Settings: sizes DuckDB can use are accepted, others named in one line each."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shoal.settings import Settings, settings_errors


@pytest.mark.parametrize("value", ["64MB", "1.5GB", "256MiB", " 100 KB ", "10mb", "1B"])
def test_sizes_duckdb_reads_are_accepted(value: str) -> None:
    settings = Settings(store_memory_limit=value, store_checkpoint_threshold=value)
    assert settings.store_memory_limit == value


@pytest.mark.parametrize("value", ["0MB", "0.0GB", "00MB", "64", "MB", "lots", "-5MB"])
def test_zero_or_unreadable_sizes_are_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(store_memory_limit=value)
    assert settings_errors(caught.value) == [
        f"SHOAL_STORE_MEMORY_LIMIT={value}: expected a size above zero, such as 512MB, 1.5GB "
        "or 256MiB"
    ]


def test_other_errors_keep_pydantics_explanation() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(pipeline_batch_size=0, port="http")
    lines = settings_errors(caught.value)
    assert "SHOAL_PIPELINE_BATCH_SIZE=0: Input should be greater than or equal to 1" in lines
    assert any(line.startswith("SHOAL_PORT=http: ") for line in lines)
