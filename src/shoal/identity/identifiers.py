"""Which identifiers a message carries, the way Segment's identity graph reads them.

Defaults (external id type ← message location): ``user_id`` ← userId, ``anonymous_id`` ←
anonymousId (and an alias call's previousId), ``group_id`` ← a group call's groupId (the
accounts collection), ``email`` ← traits.email or context.traits.email, ``android.id`` /
``ios.id`` ← context.device.id by device.type, ``android.idfa`` / ``ios.idfa`` ←
device.advertisingId when adTrackingEnabled is true, ``android.push_token`` /
``ios.push_token`` ← device.token, ``ga_client_id`` ← integrations["Google
Analytics"].clientId. Plus ``context.externalIds`` and trait/property keys configured as
identifiers.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from shoal.identity.rules import CompiledSettings

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_PAIRS = [a + b for a in _B62 for b in _B62]
PROFILE_PREFIX = {"users": "use_", "accounts": "acc_"}


@dataclass(slots=True)
class Identifier:
    """One external id of a message: ``(collection, type, value)``.

    ``skey`` (space, collection, type, value joined) keys the in-memory cache; the 63-bit
    ``key`` the database uses is only hashed when needed (cache misses, new identifiers).
    """

    collection: str
    type: str
    value: str
    skey: str
    priority: int
    _key: int = -1

    @property
    def key(self) -> int:
        """The stored 63-bit key."""
        if self._key < 0:
            self._key = _hash(self.skey)
        return self._key


def _hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def hash63(*parts: str) -> int:
    """A stable, positive 63-bit hash of ``parts`` (fits a signed BIGINT)."""
    return _hash("\x1f".join(parts))


def cache_key(space: str, collection: str, id_type: str, value: str) -> str:
    """The in-memory cache key of an identifier."""
    return "\x1f".join((space, collection, id_type, value))


def identifier_key(space: str, collection: str, id_type: str, value: str) -> int:
    """The key an identifier is stored under."""
    return hash63(space, collection, id_type, value)


def profile_pk(space: str, collection: str, source_id: str, message_id: str) -> int:
    """A new profile's number: derived from the message that created it, so a replay of
    the same messages (in any batching) creates the same profile ids."""
    return hash63(space, "profile", collection, source_id, message_id)


def profile_id(collection: str, pk: int) -> str:
    """The public profile id (``use_…`` / ``acc_…``) of a profile number."""
    digits = []
    n = pk
    while n >= 3844:  # two base-62 digits at a time
        n, rem = divmod(n, 3844)
        digits.append(_B62_PAIRS[rem])
    text = "".join(reversed(digits))
    if n:
        text = (_B62[n // 62] + _B62[n % 62] if n >= 62 else _B62[n]) + text
    return PROFILE_PREFIX[collection] + text.rjust(11, "0")


def parse_profile_id(value: str) -> tuple[str, int] | None:
    """``(collection, pk)`` of a public profile id, or ``None``."""
    for collection, prefix in PROFILE_PREFIX.items():
        if value.startswith(prefix) and 1 < len(value) - len(prefix) <= 12:
            n = 0
            for char in value[len(prefix) :]:
                index = _B62.find(char)
                if index < 0:
                    return None
                n = n * 62 + index
            return (collection, n) if n < 2**63 else None
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return None


@functools.lru_cache(maxsize=1024)
def _spellings(key: str) -> tuple[str, str]:
    """The snake_case and camelCase spellings of a key (there are few keys: cached)."""
    snake = _CAMEL.sub("_", key).lower()
    camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)
    return snake, camel


def _lookup(obj: object, key: str) -> object:
    """``obj[key]``, accepting the camelCase or snake_case spelling of ``key``."""
    if not isinstance(obj, dict):
        return None
    if key in obj:
        return obj[key]
    snake, camel = _spellings(key)
    if snake in obj:
        return obj[snake]
    return obj.get(camel)


def raw_identifiers(msg: dict[str, Any], rules: CompiledSettings) -> list[tuple[str, str, str]]:
    """Every ``(collection, type, value)`` a message carries, before rules are applied."""
    out: list[tuple[str, str, str]] = []

    def add(collection: str, id_type: str, value: object) -> None:
        if value is None:
            return
        if isinstance(value, str):  # the common case, inlined from ``_text``
            text: str | None = value.strip()
        else:
            text = _text(value)
        if text:
            out.append((collection, id_type, text))

    kind = msg.get("type")
    add("users", "user_id", msg.get("userId"))
    add("users", "anonymous_id", msg.get("anonymousId"))
    if kind == "alias":
        add("users", "anonymous_id", msg.get("previousId"))
    if kind == "group":
        add("accounts", "group_id", msg.get("groupId"))
    raw_context = msg.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    traits = msg.get("traits") if kind == "identify" else None
    add("users", "email", _lookup(traits, "email") or _lookup(context.get("traits"), "email"))
    device = context.get("device")
    if isinstance(device, dict):
        platform = str(device.get("type") or "").lower()
        if platform in ("android", "ios"):
            add("users", f"{platform}.id", device.get("id"))
            if device.get("adTrackingEnabled") is True:
                add("users", f"{platform}.idfa", device.get("advertisingId"))
            add("users", f"{platform}.push_token", device.get("token"))
    for integrations in (msg.get("integrations"), context.get("integrations")):
        ga = _lookup(integrations, "Google Analytics")
        if isinstance(ga, dict):
            add("users", "ga_client_id", ga.get("clientId"))
    external = context.get("externalIds")
    if isinstance(external, list):
        for item in external:
            # Segment requires all four fields; anything less is ignored, not guessed at.
            if not isinstance(item, dict) or not all(
                item.get(f) is not None for f in ("id", "type", "collection", "encoding")
            ):
                continue
            collection = item["collection"]
            if collection in ("users", "accounts") and isinstance(item["type"], str):
                add(collection, item["type"].strip().lower(), item["id"])
    if rules.trait_keys and traits is not None:
        for id_type, key in rules.trait_keys:
            add("users", id_type, _lookup(traits, key))
    if rules.property_keys and isinstance(msg.get("properties"), dict):
        for id_type, key in rules.property_keys:
            add("users", id_type, _lookup(msg["properties"], key))
    return out


def extract(
    space: str, msg: dict[str, Any], rules: CompiledSettings
) -> tuple[list[Identifier], list[Identifier], list[tuple[str, str]]]:
    """The message's usable identifiers: ``(users, accounts, blocked)``.

    Each list is sorted by priority (highest first) and free of duplicates; blocked values
    are returned as ``(type, value)`` so callers can explain why they were not promoted.
    """
    users: dict[tuple[str, str], Identifier] = {}
    accounts: dict[tuple[str, str], Identifier] = {}
    blocked: list[tuple[str, str]] = []
    for collection, id_type, value in raw_identifiers(msg, rules):
        rule = rules.get(collection, id_type)
        if rule is None:
            continue
        if rule.blocks(value):
            blocked.append((id_type, value))
            continue
        target = users if collection == "users" else accounts
        if (id_type, value) not in target:
            skey = "\x1f".join((space, collection, id_type, value))
            target[(id_type, value)] = Identifier(collection, id_type, value, skey, rule.priority)
    return _ordered(users), _ordered(accounts), blocked


def _order(ident: Identifier) -> tuple[int, str, str]:
    return ident.priority, ident.type, ident.value


def _ordered(found: dict[tuple[str, str], Identifier]) -> list[Identifier]:
    values = list(found.values())
    if len(values) > 1:
        values.sort(key=_order)
    return values
