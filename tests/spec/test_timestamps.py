"""ISO-8601 parsing and formatting in UTC milliseconds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shoal.spec.timestamps import format_ms, parse_ms


def test_parses_zulu_offsets_and_naive_as_utc() -> None:
    assert parse_ms("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert parse_ms("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    assert parse_ms("2026-01-01T00:00:00") == 1_767_225_600_000
    assert parse_ms("2026-01-01T00:00:00.123Z") == 1_767_225_600_123


def test_rejects_what_is_not_a_timestamp() -> None:
    for value in (None, 5, "", "yesterday", "2026-13-01T00:00:00Z", "x" * 100, [], {}):
        assert parse_ms(value) is None


def test_formats_with_milliseconds_and_z() -> None:
    assert format_ms(1_767_225_600_007) == "2026-01-01T00:00:00.007Z"


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_ms(format_ms(ms)) == ms
