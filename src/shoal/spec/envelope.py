"""The record the HTTP edge puts on the queue, one per event.

The edge does as little as it can before acknowledging: it checks syntax and sizes, finds
the source, and wraps each message's exact bytes with what only the edge knows (when and
how it arrived). Everything else — ids, clock skew, validity — happens in the pipeline, so
an accepted request costs one queue commit.
"""

from __future__ import annotations

import msgspec

NO_VALUE = msgspec.Raw(b"null")
"""Default of optional raw fields: msgspec cannot decode ``Raw | None``."""


class Envelope(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """One received message and the facts of its arrival."""

    source_id: str
    workspace_id: str
    environment: str
    received_at: int
    """Server receipt time, UTC epoch milliseconds."""
    request_id: str
    index: int
    """Position in the request; with ``request_id`` it gives a stable default messageId."""
    message: msgspec.Raw
    path_type: str | None = None
    """The call type implied by the path (``/v1/track``), ``None`` for batches."""
    sent_at: str | None = None
    """Batch-level ``sentAt``."""
    context: msgspec.Raw = NO_VALUE
    """Batch-level ``context``, merged into the message by the pipeline (``null``: none)."""
    integrations: msgspec.Raw = NO_VALUE
    ip: str | None = None
    reject: str | None = None
    """Set when the edge already knows the message cannot be used (e.g. over 32 KB)."""


class Head(msgspec.Struct, forbid_unknown_fields=False):
    """The few fields the edge reads from each message (for partitioning)."""

    userId: object = None
    anonymousId: object = None


ENVELOPE_ENCODER = msgspec.json.Encoder()
ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)


def present(raw: msgspec.Raw) -> bool:
    """Whether an optional raw field holds a value (msgspec cannot decode ``Raw | None``)."""
    return len(raw) > 0 and bytes(raw) != b"null"


def partition_key(head: Head) -> str:
    """The key that keeps one person's events in order on partitioned queues."""
    value = head.userId or head.anonymousId
    return str(value) if value is not None else ""
