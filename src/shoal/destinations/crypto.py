"""Encryption of destination secrets at rest (Fernet, with a key kept in the data dir).

The key file is created on first use, readable by its owner only. A copy of the control
database alone then reveals no API key; whoever holds the data dir holds both, as with any
server that must use its secrets unattended.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "destinations.key"


class SecretBox:
    """Seals and opens dicts of secret settings."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._fernet = Fernet(self._load_or_create())

    def _load_or_create(self) -> bytes:
        try:
            return self.key_path.read_bytes().strip()
        except FileNotFoundError:
            pass
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.key_path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key

    def seal(self, secrets: dict[str, str]) -> str:
        """Encrypt a dict of secret values to an opaque token."""
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, token: str | None) -> dict[str, str]:
        """Decrypt a token from :meth:`seal`; ``{}`` for none."""
        if not token:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise RuntimeError(
                f"destination secrets cannot be decrypted with {self.key_path}; was the key "
                "file replaced?"
            ) from exc
        return {str(k): str(v) for k, v in data.items()}
