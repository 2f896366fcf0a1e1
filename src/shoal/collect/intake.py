"""Bytes in, envelopes out: split a request into per-message queue records.

Only syntax and sizes are checked here; a message Segment would accept but cannot use
still becomes a record, marked or later found ``rejected`` by the pipeline, so that the
client gets Segment's 200 and the user sees the problem in the debugger.
"""

from __future__ import annotations

import uuid

import msgspec

from shoal.collect.errors import EdgeError
from shoal.collect.keys import SourceKey
from shoal.spec.envelope import ENVELOPE_ENCODER, NO_VALUE, Envelope, Head, partition_key
from shoal.spec.limits import MAX_BATCH_EVENTS, MAX_EVENT_BYTES


class SingleBody(msgspec.Struct, forbid_unknown_fields=False):
    """The fields of a single call the edge reads; the rest stays in the raw bytes."""

    writeKey: object = None
    userId: object = None
    anonymousId: object = None


class BatchBody(msgspec.Struct, forbid_unknown_fields=False):
    """``/v1/batch`` and ``/v1/import``: items stay raw, the envelope keeps the rest."""

    batch: list[msgspec.Raw]
    writeKey: object = None
    sentAt: object = None
    context: msgspec.Raw = NO_VALUE
    integrations: msgspec.Raw = NO_VALUE


_SINGLE = msgspec.json.Decoder(SingleBody)
_BATCH = msgspec.json.Decoder(BatchBody)
_HEAD = msgspec.json.Decoder(Head)


def _invalid(exc: Exception, what: str) -> EdgeError:
    if isinstance(exc, msgspec.ValidationError):
        return EdgeError(400, "invalid_body", f"{what}: {exc}")
    return EdgeError(400, "invalid_json", f"body is not valid JSON: {exc}")


def parse_single(body: bytes) -> SingleBody:
    """Decode a single call, or raise a 400 saying what is wrong."""
    try:
        return _SINGLE.decode(body)
    except msgspec.DecodeError as exc:
        raise _invalid(exc, "body must be a JSON object") from exc


def parse_batch(body: bytes) -> BatchBody:
    """Decode a batch, or raise a 400 saying what is wrong."""
    try:
        return _BATCH.decode(body)
    except msgspec.DecodeError as exc:
        raise _invalid(exc, "body must be an object with a 'batch' array") from exc


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def single_records(
    body: bytes, parsed: SingleBody, source: SourceKey, path_type: str, received: int, ip: str
) -> list[tuple[str, bytes]]:
    """The one queue record of a single call."""
    envelope = Envelope(
        source_id=source.id,
        workspace_id=source.workspace_id,
        environment=source.environment,
        received_at=received,
        request_id=uuid.uuid4().hex,
        index=0,
        message=msgspec.Raw(body),
        path_type=path_type,
        ip=ip,
    )
    key = partition_key(Head(parsed.userId, parsed.anonymousId))
    return [(key, ENVELOPE_ENCODER.encode(envelope))]


def batch_records(
    parsed: BatchBody, source: SourceKey, received: int, ip: str, partitioned: bool
) -> list[tuple[str, bytes]]:
    """One queue record per batch item; oversize and surplus items are kept, marked."""
    request_id = uuid.uuid4().hex
    sent_at = _text(parsed.sentAt)
    records = []
    for index, item in enumerate(parsed.batch):
        reject = None
        if len(item) > MAX_EVENT_BYTES:
            reject = "event_too_large"
        elif index >= MAX_BATCH_EVENTS:
            reject = "batch_too_many_events"
        key = ""
        if partitioned:
            try:
                key = partition_key(_HEAD.decode(item))
            except msgspec.DecodeError:
                key = ""
        envelope = Envelope(
            source_id=source.id,
            workspace_id=source.workspace_id,
            environment=source.environment,
            received_at=received,
            request_id=request_id,
            index=index,
            message=item,
            sent_at=sent_at,
            context=parsed.context,
            integrations=parsed.integrations,
            ip=ip,
            reject=reject,
        )
        records.append((key, ENVELOPE_ENCODER.encode(envelope)))
    return records
