"""How counts read in messages to people."""

from __future__ import annotations

from shoal.wording import counted, noun_for


def test_counts_take_the_number_of_their_noun() -> None:
    assert counted(1, "event") == "1 event"
    assert counted(0, "event") == "0 events"
    assert counted(2, "member") == "2 members"
    assert counted(12_500, "profile") == "12,500 profiles"
    assert counted(1, "match", "matches") == "1 match"
    assert counted(3, "match", "matches") == "3 matches"


def test_the_noun_alone_takes_the_same_number() -> None:
    assert noun_for(1, "source") == "source"
    assert noun_for(2, "source") == "sources"
    assert noun_for(0, "match", "matches") == "matches"
