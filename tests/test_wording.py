"""How counts read in messages to people."""

from __future__ import annotations

from shoal.wording import counted


def test_counts_take_the_number_of_their_noun() -> None:
    assert counted(1, "event") == "1 event"
    assert counted(0, "event") == "0 events"
    assert counted(2, "member") == "2 members"
    assert counted(12_500, "profile") == "12,500 profiles"
    assert counted(1, "match", "matches") == "1 match"
    assert counted(3, "match", "matches") == "3 matches"
