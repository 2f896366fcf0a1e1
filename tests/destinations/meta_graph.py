"""A fake of Meta's Graph API for Custom Audience users, for list-sync tests.

It checks every request as Meta documents it (``POST`` adds and ``DELETE`` removes
``/{audience_id}/users``; ``payload.schema`` EMAIL, PHONE, EXTERN_ID; each value normalized
then SHA-256 hashed, or empty; at most 10,000 rows) and keeps the rows it accepted.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from typing import Any

from tests.destinations.receiver import Received, Reply

TOKEN = "EAAB"
LIST = "6000"
SCHEMA = ["EMAIL", "PHONE", "EXTERN_ID"]
_HASH = re.compile(r"^[0-9a-f]{64}$")
BUSY = (503, {"error": {"message": "Service temporarily unavailable", "code": 2}})


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def row(user: int) -> tuple[str, str, str]:
    """The row Meta expects for a user: normalized (trimmed, lower-cased email; phone
    digits only) and hashed."""
    return _sha(f"user{user}@example.com"), _sha(f"1555010{user:04d}"), _sha(f"u{user}")


class Graph:
    """Meta's Custom Audience users endpoint."""

    def __init__(self) -> None:
        self.failing: dict[str, tuple[int, Any]] = {}
        """Method → the answer it gets instead (an outage, a refusal)."""
        self.rows: dict[str, list[tuple[str, ...]]] = {"POST": [], "DELETE": []}
        self.failures: Counter[str] = Counter()
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: Received) -> Reply:
        with self.lock:
            if request.method in self.failing:
                self.failures[request.method] += 1
                return self.failing[request.method]
            problem = self._check(request)
            if problem:
                self.problems.append(problem)
                return 400, {"error": {"message": problem, "type": "OAuthException", "code": 100}}
            data = request.json()["payload"]["data"]
            self.rows[request.method].extend(tuple(r) for r in data)
        return 200, {"audience_id": LIST, "session_id": "1", "num_received": len(data),
                     "num_invalid_entries": 0, "invalid_entry_samples": {}}  # fmt: skip

    @staticmethod
    def _check(request: Received) -> str | None:
        if request.query.get("access_token") != TOKEN:
            return "Invalid OAuth access token."
        if request.method not in ("POST", "DELETE") or request.path != f"/v21.0/{LIST}/users":
            return f"unsupported request {request.method} {request.path}"
        payload = request.json().get("payload")
        if not isinstance(payload, dict) or payload.get("schema") != SCHEMA:
            return f"payload.schema must be {SCHEMA}: {payload}"
        data = payload.get("data")
        if not isinstance(data, list) or not 0 < len(data) <= 10_000:
            return "payload.data holds 1 to 10,000 rows"
        for values in data:
            if len(values) != 3 or not all(v == "" or _HASH.match(v) for v in values):
                return f"every value is a SHA-256 of the normalized value or empty: {values}"
            if not any(values):
                return "a row needs at least one identifier"
        return None

    def count(self, method: str) -> Counter[tuple[str, ...]]:
        with self.lock:
            return Counter(self.rows[method])
