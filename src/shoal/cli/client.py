"""A small Config API client for the CLI (stdlib only, so the CLI starts fast)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_PATH = Path(os.environ.get("SHOAL_CONFIG", Path.home() / ".config" / "shoal" / "cli.json"))


class ApiError(Exception):
    """An error answer from the server, or no server at all."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def saved_login() -> dict[str, str]:
    """The URL and token saved by ``shoal login``, if any."""
    try:
        data = json.loads(CONFIG_PATH.read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_login(url: str, token: str) -> Path:
    """Remember a server and token for later commands (file readable by the owner only)."""
    CONFIG_PATH.parent.mkdir(parents=True, exist_ok=True)
    CONFIG_PATH.write_text(json.dumps({"url": url, "token": token}))
    CONFIG_PATH.chmod(0o600)
    return CONFIG_PATH


@dataclass
class Client:
    """Calls ``/api/v1`` on one server with one token."""

    url: str
    token: str | None
    timeout: float = 30.0

    def _request(self, method: str, path: str, body: Any = None) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url.rstrip("/") + "/api/v1" + path, data=data, method=method
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        return request

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON answer (``None`` for 204)."""
        try:
            with urllib.request.urlopen(
                self._request(method, path, body), timeout=self.timeout
            ) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.url}: {exc}") from None
        return json.loads(raw) if raw else None

    def stream(self, path: str) -> Iterator[tuple[str, str]]:
        """Yield ``(event, data)`` pairs of a server-sent-events stream."""
        try:
            response = urllib.request.urlopen(self._request("GET", path), timeout=None)
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.url}: {exc}") from None
        with response:
            event, data = "message", list[str]()
            for raw_line in response:
                line = raw_line.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", list[str]()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def source_id(self, ref: str) -> str:
        """Accept a source id or a source name."""
        if ref.startswith("src_"):
            return ref
        matches = [s for s in self.call("GET", "/sources")["sources"] if s["name"] == ref]
        if not matches:
            raise ApiError(404, "not_found", f"no source is named {ref!r}")
        if len(matches) > 1:
            envs = ", ".join(f"{s['id']} ({s['environment']})" for s in matches)
            raise ApiError(409, "ambiguous", f"several sources are named {ref!r}: {envs}")
        return str(matches[0]["id"])

    @staticmethod
    def quote(value: str) -> str:
        return urllib.parse.quote(value, safe="")


def _error(exc: urllib.error.HTTPError) -> ApiError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    code = body.get("code", f"http_{exc.code}") if isinstance(body, dict) else f"http_{exc.code}"
    message = body.get("message", exc.reason) if isinstance(body, dict) else str(exc.reason)
    return ApiError(exc.code, str(code), str(message))
