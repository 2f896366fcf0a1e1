"""Code to paste: each suggested event as a call of the SDK that fits the source.

Every snippet is filled with the source's write key and this server's address, and its
example properties have the types the tracking plan expects, so pasting it as is sends an
event that passes the plan. Websites get analytics.js, servers analytics-python and
analytics-node, mobile apps analytics-swift and analytics-kotlin; every source gets curl
against the HTTP API.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

USER_ID = "user-123"
LIBRARIES: dict[str, tuple[str, ...]] = {
    "website": ("analytics.js",),
    "server": ("analytics-python", "analytics-node"),
    "mobile": ("analytics-swift", "analytics-kotlin"),
    "http": (),
}
"""SDKs offered per Shoal source type (curl is offered for every type)."""
_CALLS = {
    "analytics.js": ("track", "page"),
    "analytics-swift": ("track", "screen"),
    "analytics-kotlin": ("track", "screen"),
}
_EXAMPLES: dict[str, Any] = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "username": "ada",
    "coupon": "WELCOME10",
    "currency": "USD",
    "products": [{"product_id": "prod-1", "sku": "SKU-1", "price": 19.99, "quantity": 1}],
}


class _Property(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Snippet:
    """One ready-to-paste piece of code."""

    library: str
    language: str
    code: str


def example_value(name: str, type_: str | None) -> Any:
    """A plausible value for a property, of the type the plan expects.

    Args:
        name: The property name, e.g. ``"order_id"``.
        type_: Its planned type, or ``None`` when any value is accepted.

    Returns:
        A JSON-compatible example value.
    """
    known = _EXAMPLES.get(name)
    if known is not None and type_ in (None, "array" if isinstance(known, list) else "string"):
        return known
    if type_ is None:
        if name.startswith(("num_", "total_")) or name.endswith(("_number", "_steps")):
            type_ = "integer"
        elif name.startswith("pct_"):
            return 50
        elif name.startswith(("is_", "has_", "from_")):
            type_ = "boolean"
        else:
            type_ = "string"
    defaults: dict[str, Any] = {
        "string": f"{name[:-3]}-123" if name.endswith("_id") else f"example {name}",
        "number": 19.99,
        "integer": 2,
        "boolean": False,
        "array": [],
        "object": {},
        "date-time": "2024-01-01T12:00:00Z",
    }
    return defaults[type_]


def example_properties(properties: Sequence[_Property]) -> dict[str, Any]:
    """Example values for all of an event's properties."""
    return {p.name: example_value(p.name, p.type) for p in properties}


def _py(value: Any, indent: int = 0) -> str:
    pad = "    " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {_py(v, indent + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + "    " * indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_py(v, indent) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return repr(value)
    return json.dumps(value)


def _swift(value: Any, indent: int = 0) -> str:
    pad = "    " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "[:]"
        items = [f"{pad}{json.dumps(k)}: {_swift(v, indent + 1)}," for k, v in value.items()]
        return "[\n" + "\n".join(items) + "\n" + "    " * indent + "]"
    if isinstance(value, list):
        return "[" + ", ".join(_swift(v, indent) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _kotlin(value: dict[str, Any], indent: int = 0) -> str:
    pad = "    " * (indent + 1)
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}putJsonObject({json.dumps(key)}) {_kotlin(item, indent + 1)}")
        elif isinstance(item, list):
            inner = [
                f"{pad}    addJsonObject {_kotlin(v, indent + 2)}"
                if isinstance(v, dict)
                else f"{pad}    add({_swift(v)})"
                for v in item
            ]
            body = "\n".join(inner)
            lines.append(f"{pad}putJsonArray({json.dumps(key)}) {{\n{body}\n{pad}}}")
        else:
            lines.append(f"{pad}put({json.dumps(key)}, {_swift(item)})")
    return "{\n" + "\n".join(lines) + "\n" + "    " * indent + "}"


def _js(value: Any, indent: int = 0) -> str:
    return json.dumps(value, indent=2).replace("\n", "\n" + "  " * indent)


def _host(base_url: str) -> str:
    parts = urlsplit(base_url)
    return parts.netloc + parts.path.rstrip("/") + "/v1"


def _analytics_js(call: str, name: str, props: dict[str, Any], key: str, base: str) -> str:
    args = f"{json.dumps(name)}, {_js(props)}"
    return (
        "import { AnalyticsBrowser } from '@segment/analytics-next'\n\n"
        "// Loads its settings from this Shoal server, which points it back here for events.\n"
        f"export const analytics = AnalyticsBrowser.load({{\n"
        f"  writeKey: {json.dumps(key)},\n  cdnURL: {json.dumps(base.rstrip('/'))},\n}})\n\n"
        f"analytics.{call}({args})\n"
    )


def _python(call: str, name: str, props: dict[str, Any], key: str, base: str) -> str:
    if call == "track":
        line = f"analytics.track({json.dumps(USER_ID)}, {json.dumps(name)}, {_py(props)})"
    else:
        line = (
            f"analytics.{call}({json.dumps(USER_ID)}, name={json.dumps(name)}, "
            f"properties={_py(props)})"
        )
    return (
        "import segment.analytics as analytics\n\n"
        f"analytics.write_key = {json.dumps(key)}\n"
        f"analytics.host = {json.dumps(base.rstrip('/'))}\n\n"
        f"{line}\n"
        "analytics.flush()  # in a long-running server, flush on shutdown instead\n"
    )


def _node(call: str, name: str, props: dict[str, Any], key: str, base: str) -> str:
    field = "event" if call == "track" else "name"
    return (
        "import { Analytics } from '@segment/analytics-node'\n\n"
        f"const analytics = new Analytics({{ writeKey: {json.dumps(key)}, "
        f"host: {json.dumps(base.rstrip('/'))} }})\n\n"
        f"analytics.{call}({{\n  userId: {json.dumps(USER_ID)},\n  {field}: {json.dumps(name)},\n"
        f"  properties: {_js(props, 1)},\n}})\n"
        "await analytics.closeAndFlush()\n"
    )


def _tls_note(base: str, comment: str) -> str:
    if urlsplit(base).scheme == "https":
        return ""
    return f"{comment} The mobile SDKs send over HTTPS only: serve Shoal behind TLS.\n"


def _swift_code(call: str, name: str, props: dict[str, Any], key: str, base: str) -> str:
    host = _host(base)
    verb = "track(name:" if call == "track" else "screen(title:"
    return (
        "import Segment\n\n"
        + _tls_note(base, "//")
        + f"let analytics = Analytics(configuration: Configuration(writeKey: {json.dumps(key)})\n"
        f"    .apiHost({json.dumps(host)})\n    .cdnHost({json.dumps(host)}))\n\n"
        f"analytics.{verb} {json.dumps(name)}, properties: {_swift(props)})\n"
    )


def _kotlin_code(call: str, name: str, props: dict[str, Any], key: str, base: str) -> str:
    host = _host(base)
    return (
        "import com.segment.analytics.kotlin.android.Analytics\n"
        "import kotlinx.serialization.json.*\n\n"
        + _tls_note(base, "//")
        + f"val analytics = Analytics({json.dumps(key)}, applicationContext) {{\n"
        f"    apiHost = {json.dumps(host)}\n    cdnHost = {json.dumps(host)}\n}}\n\n"
        f"analytics.{call}({json.dumps(name)}, buildJsonObject {_kotlin(props)})\n"
    )


def _curl(call: str, name: str, props: dict[str, Any], key: str, base: str) -> str:
    body: dict[str, Any] = {"userId": USER_ID}
    body["event" if call == "track" else "name"] = name
    body["properties"] = props
    data = json.dumps(body).replace("'", "'\\''")
    return (
        f"curl {base.rstrip('/')}/v1/{call} \\\n"
        f"  -u '{key}:' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{data}'\n"
    )


_GENERATORS = {
    "analytics.js": ("javascript", _analytics_js),
    "analytics-python": ("python", _python),
    "analytics-node": ("javascript", _node),
    "analytics-swift": ("swift", _swift_code),
    "analytics-kotlin": ("kotlin", _kotlin_code),
    "curl": ("shell", _curl),
}


def event_snippets(
    name: str,
    call: str,
    properties: Sequence[_Property],
    *,
    source_type: str,
    write_key: str,
    base_url: str,
) -> list[Snippet]:
    """Ready code that sends one suggested event from one source.

    Args:
        name: The event name (page and screen calls are sent for a page named "Home").
        call: ``"track"``, ``"page"`` or ``"screen"``.
        properties: The event's planned properties (``name`` and ``type`` each).
        source_type: The Shoal source type: ``website``, ``server``, ``mobile`` or ``http``.
        write_key: The source's write key.
        base_url: This server's address as SDKs reach it, e.g. ``https://cdp.example.com``.

    Returns:
        One snippet per SDK fitting the source type and able to make the call, then curl.
    """
    props = example_properties(properties)
    shown = name if call == "track" else "Home"
    libraries = [
        lib
        for lib in (*LIBRARIES.get(source_type, ()), "curl")
        if call in _CALLS.get(lib, ("track", "page", "screen"))
    ]
    out = []
    for library in libraries:
        language, generate = _GENERATORS[library]
        out.append(Snippet(library, language, generate(call, shown, props, write_key, base_url)))
    return out
