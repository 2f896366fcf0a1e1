"""Identifiers, write keys and API tokens."""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """A random, URL-safe id such as ``src_k3j9x0q2m1b7c4d8``."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def new_write_key() -> str:
    """A write key: public in browsers, so it only ever grants sending events."""
    return secrets.token_urlsafe(24)


def new_api_token() -> str:
    """An owner or member API token for the Config API."""
    return "shoal_" + secrets.token_urlsafe(30)


def hash_token(token: str) -> str:
    """Tokens are stored hashed; a leaked database does not leak working tokens."""
    return hashlib.sha256(token.encode()).hexdigest()
