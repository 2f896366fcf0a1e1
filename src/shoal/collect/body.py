"""Reading request bodies within Segment's size limits, gzip and deflate included."""

from __future__ import annotations

import zlib

from starlette.requests import Request

from shoal.collect.errors import EdgeError

_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _too_large(limit: int) -> EdgeError:
    return EdgeError(
        400,
        "body_too_large",
        f"request body is larger than {limit // 1024} KB (Segment's limit for this endpoint)",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, refused with 400 once it passes ``limit`` bytes.

    The limit applies to the decompressed size too, so a small gzip bomb is refused
    without ever being inflated past the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    wbits = _DECODERS.get(encoding)
    if wbits is None:
        raise EdgeError(
            400,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none",
        )
    inflater = zlib.decompressobj(wbits)
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise EdgeError(
            400, "invalid_encoding", f"body is not valid {encoding} data: {exc}"
        ) from exc
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise EdgeError(400, "invalid_encoding", f"{encoding} body is truncated")
    return inflated
