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


def _clean(value: object) -> str | None:
    # The common case (a string) first: this runs for every identifier of every message.
    if type(value) is str:
        return value.strip() or None
    return None if value is None else _text(value)


def raw_identifiers(msg: dict[str, Any], rules: CompiledSettings) -> list[tuple[str, str, str]]:
    """Every ``(collection, type, value)`` a message carries, before rules are applied."""
    out: list[tuple[str, str, str]] = []
    kind = msg.get("type")
    if (text := _clean(msg.get("userId"))) is not None:
        out.append(("users", "user_id", text))
    if (text := _clean(msg.get("anonymousId"))) is not None:
        out.append(("users", "anonymous_id", text))
    if kind == "alias" and (text := _clean(msg.get("previousId"))) is not None:
        out.append(("users", "anonymous_id", text))
    if kind == "group" and (text := _clean(msg.get("groupId"))) is not None:
        out.append(("accounts", "group_id", text))
    raw_context = msg.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    traits = msg.get("traits") if kind == "identify" else None
    email = _lookup(traits, "email") or _lookup(context.get("traits"), "email")
    if email is not None and (text := _clean(email)) is not None:
        out.append(("users", "email", text))
    device = context.get("device")
    if device is not None:
        _device(out, device)
    integrations = msg.get("integrations")
    if integrations is not None or "integrations" in context:
        for found in (integrations, context.get("integrations")):
            ga = _lookup(found, "Google Analytics")
            if isinstance(ga, dict) and (text := _clean(ga.get("clientId"))) is not None:
                out.append(("users", "ga_client_id", text))
    external = context.get("externalIds")
    if external is not None:
        _external(out, external)
    if rules.trait_keys and traits is not None:
        for id_type, key in rules.trait_keys:
            if (text := _clean(_lookup(traits, key))) is not None:
                out.append(("users", id_type, text))
    if rules.property_keys and isinstance(msg.get("properties"), dict):
        for id_type, key in rules.property_keys:
            if (text := _clean(_lookup(msg["properties"], key))) is not None:
                out.append(("users", id_type, text))
    return out


def _device(out: list[tuple[str, str, str]], device: object) -> None:
    if not isinstance(device, dict):
        return
    platform = str(device.get("type") or "").lower()
    if platform not in ("android", "ios"):
        return
    if (text := _clean(device.get("id"))) is not None:
        out.append(("users", f"{platform}.id", text))
    advertising = _clean(device.get("advertisingId"))
    if device.get("adTrackingEnabled") is True and advertising is not None:
        out.append(("users", f"{platform}.idfa", advertising))
    if (text := _clean(device.get("token"))) is not None:
        out.append(("users", f"{platform}.push_token", text))


def _external(out: list[tuple[str, str, str]], external: object) -> None:
    if not isinstance(external, list):
        return
    for item in external:
        # Segment requires all four fields; anything less is ignored, not guessed at.
        if not isinstance(item, dict) or not all(
            item.get(f) is not None for f in ("id", "type", "collection", "encoding")
        ):
            continue
        collection, id_type = item["collection"], item["type"]
        text = _clean(item["id"])
        if collection in ("users", "accounts") and isinstance(id_type, str) and text is not None:
            out.append((collection, id_type.strip().lower(), text))


def extract(
    space: str, msg: dict[str, Any], rules: CompiledSettings
) -> tuple[list[Identifier], list[Identifier], list[tuple[str, str]]]:
    """The message's usable identifiers: ``(users, accounts, blocked)``.

    Each list is sorted by priority (highest first) and free of duplicates; blocked values
    are returned as ``(type, value)`` so callers can explain why they were not promoted.
    """
    users: list[Identifier] = []
    accounts: list[Identifier] = []
    blocked: list[tuple[str, str]] = []
    known = rules.rules
    for collection, id_type, value in raw_identifiers(msg, rules):
        rule = known.get((collection, id_type)) or rules.get(collection, id_type)
        if rule is None:
            continue
        if value in rule.exact_blocks or (rule.regex_blocks and rule.blocks(value)):
            blocked.append((id_type, value))
            continue
        target = users if collection == "users" else accounts
        if target and any(i.type == id_type and i.value == value for i in target):
            continue
        skey = "\x1f".join((space, collection, id_type, value))
        target.append(Identifier(collection, id_type, value, skey, rule.priority))
    if len(users) > 1:
        users.sort(key=_order)
    if len(accounts) > 1:
        accounts.sort(key=_order)
    return users, accounts, blocked


def _order(ident: Identifier) -> tuple[int, str, str]:
    return ident.priority, ident.type, ident.value
