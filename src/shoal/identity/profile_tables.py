"""THE list of identity tables that hold per-profile rows, for re-resolution to clear.

A full replay (``replay.replay``) deletes a space's rows of every ``PROFILE_TABLES`` table
(each has a ``space`` column); a per-profile replay (``replay_profiles``) deletes the rows
whose listed columns name one of the re-resolved profiles, plus the rows of the replayed
messages (``MESSAGE_TABLES``) and of their timeline rows (``TIMELINE_TABLES``), which
belong to accounts the replay does not re-resolve. The stage writes them all again as it
replays. A table the identity stage (or computed traits) writes per profile must be listed
here, or replays leave its old rows behind. This module imports nothing, so the store may
use it too.
"""

from __future__ import annotations

PROFILE_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("identity_ids", ("pk",)),
    ("identity_profiles", ("pk",)),
    ("identity_merges", ("from_pk", "into_pk")),
    ("identity_links", ("user_pk", "account_pk")),
    ("identity_events", ("pk",)),
    ("identity_computed", ("pk",)),
    ("identity_event_values", ("pk",)),
)
"""``(table, columns holding a profile number)``. (``identity_materialized``, the registry
of materialized paths, is per space and stays: a replay writes the values again.)"""

MESSAGE_TABLES: tuple[str, ...] = ("identity_events",)
"""Tables with ``source_id`` and ``message_id`` whose rows of a replayed message are deleted
whoever they belong to: an account's timeline row of a re-resolved user's group call."""

TIMELINE_TABLES: tuple[str, ...] = ("identity_event_values",)
"""Tables keyed by a timeline row (``pk``, ``seq``): rows of a timeline row that
``MESSAGE_TABLES`` deletes go with it (deleted first, while the timeline row still says
which they are)."""
