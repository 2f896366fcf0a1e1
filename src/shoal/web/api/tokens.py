"""A short-lived cache of API token → user, so most requests skip the control-plane query.

Authenticating a Bearer token is a SQLite query that runs in a worker thread; on a busy
machine the hop there and back costs more than the query. A token that authenticated
within the last ``TTL_S`` seconds is trusted again without asking. Revocation therefore
takes effect within ``TTL_S`` seconds in this process; code that revokes or demotes in
this process calls ``forget`` to make it immediate. Only successes are cached (a token
created a moment ago works at once), keyed by the token's SHA-256, never the token.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from shoal.control import User

TTL_S = 5.0
"""How long a successful authentication is trusted again (documented in docs/api.md)."""
SIZE = 4096
"""Cached tokens at most (the oldest go first)."""


class TokenCache:
    """Token hash → ``(user, trusted until)``, bounded by ``SIZE``; see the module docstring."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._users: dict[str, tuple[User, float]] = {}

    @staticmethod
    def key(token: str) -> str:
        """What a token is cached under."""
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> User | None:
        """The token's user if it authenticated less than ``ttl_s`` ago."""
        key = self.key(token)
        found = self._users.get(key)
        if found is None:
            return None
        if found[1] <= self.clock():
            del self._users[key]
            return None
        return found[0]

    def put(self, token: str, user: User) -> None:
        """Remember a successful authentication."""
        if len(self._users) >= SIZE:
            for stale in list(self._users)[: SIZE // 10]:
                del self._users[stale]
        self._users[self.key(token)] = (user, self.clock() + self.ttl_s)

    def forget(self, token: str | None = None, user_id: str | None = None) -> None:
        """Stop trusting a token, every token of a user, or (no argument) every token."""
        if token is None and user_id is None:
            self._users.clear()
            return
        if token is not None:
            self._users.pop(self.key(token), None)
        if user_id is not None:
            for key in [k for k, (u, _t) in self._users.items() if u.id == user_id]:
                del self._users[key]
