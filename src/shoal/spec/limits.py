"""Segment's documented limits for the HTTP Tracking API.

See ``../shared/reference/segment-spec.md`` section 1: 32 KB per event, 500 KB per batch
request, 2,500 events per batch, messageId under 100 characters.
"""

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
MAX_MESSAGE_ID_CHARS = 100

MESSAGE_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
"""The six call types of the Segment spec."""

SHORT_PATHS = {
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
"""analytics.js 2.0 and the mobile SDKs post single calls to ``/v1/<first letter>``."""
