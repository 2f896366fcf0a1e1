"""The ``/v1`` edge as a bare ASGI app: exact-path dispatch and CORS without middleware.

Collection is the hot path, so it skips the general router and middleware stack: a dict
lookup finds the endpoint, and CORS headers are only computed for requests that carry an
``Origin`` (browsers); server SDKs never pay for them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from shoal.collect.routes import Edge

_ALLOW = [
    (b"access-control-allow-origin", b"*"),
    (b"vary", b"Origin"),
]
_PREFLIGHT = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-max-age", b"86400"),
    (b"vary", b"Origin"),
]
_SETTINGS_PREFIX = "/projects/"
_SETTINGS_SUFFIX = "/settings"


class EdgeApp:
    """Serves the collection API; mount it at ``/v1`` (it strips that prefix itself)."""

    def __init__(self, edge: Edge, prefix: str = "/v1") -> None:
        self.edge = edge
        self.prefix = prefix
        self.table = edge.endpoints()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"][len(self.prefix) :]
        method: str = scope["method"]
        browser = any(name == b"origin" for name, _ in scope["headers"])
        if method == "OPTIONS":
            await self._preflight(scope, send)
            return
        response = await self._dispatch(scope, receive, path, method)
        if browser:
            send = _with_cors(send)
        await response(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, path: str, method: str) -> Response:
        found = self.table.get(path)
        if found is not None:
            methods, endpoint = found
            if method not in methods:
                return _error(405, "method_not_allowed", f"use {', '.join(sorted(methods))}")
            return await endpoint(Request(scope, receive))
        if path.startswith(_SETTINGS_PREFIX) and path.endswith(_SETTINGS_SUFFIX):
            write_key = path[len(_SETTINGS_PREFIX) : -len(_SETTINGS_SUFFIX)]
            if write_key and "/" not in write_key:
                if method not in ("GET", "HEAD"):
                    return _error(405, "method_not_allowed", "use GET")
                return await self.edge.settings(Request(scope, receive), write_key)
        return _error(404, "not_found", f"no collection endpoint at {self.prefix}{path}")

    @staticmethod
    async def _preflight(scope: Scope, send: Send) -> None:
        headers = list(_PREFLIGHT)
        for name, value in scope["headers"]:
            if name == b"access-control-request-headers":
                headers.append((b"access-control-allow-headers", value))
        headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *_ALLOW]}
        await send(message)

    return sender


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status)
