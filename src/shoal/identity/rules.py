"""Identity settings of a space: identifier types, value limits, priorities, blocked values.

Mirrors Segment's identity-resolution settings. Out of the box a space resolves with the 11
default identifiers, a limit of 1 for ``user_id`` and 5 for every other type (window
``ever``), priority ``user_id``, ``email``, then the rest alphabetically, and the suggested
blocked values. Saved settings replace that wholesale; priority is the position in
``identifiers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Window = Literal["weekly", "monthly", "annually", "ever"]
Collection = Literal["users", "accounts"]
WINDOW_MS: dict[str, int | None] = {
    "weekly": 7 * 86_400_000,
    "monthly": 30 * 86_400_000,
    "annually": 365 * 86_400_000,
    "ever": None,
}
DEFAULT_TYPES: tuple[str, ...] = (
    "user_id",
    "email",
    "android.id",
    "android.idfa",
    "android.push_token",
    "anonymous_id",
    "ga_client_id",
    "group_id",
    "ios.id",
    "ios.idfa",
    "ios.push_token",
)
"""The 11 defaults in default priority order: user_id, email, then alphabetical."""
DEFAULT_LIMIT = 5
_TYPE_RE = re.compile(r"^[a-z0-9_][a-z0-9_.\-]{0,63}$")


class BlockedValue(BaseModel):
    """A value that is never promoted to an identifier (it stays in the payload)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["exact", "regex"] = "exact"
    value: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _compiles(self) -> BlockedValue:
        if self.kind == "regex":
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"blocked regex {self.value!r} does not compile: {exc}") from exc
        return self


SUGGESTED_BLOCKED: tuple[BlockedValue, ...] = (
    BlockedValue(kind="regex", value="^[0-]*$"),
    BlockedValue(kind="exact", value="-1"),
    BlockedValue(kind="exact", value="null"),
    BlockedValue(kind="exact", value="anonymous"),
)
"""Segment's suggested blocks: all zeros and dashes, ``-1``, ``null``, ``anonymous``."""


class IdentifierRule(BaseModel):
    """One identifier type and how it may join profiles."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Lower-case type, e.g. user_id, email, ios.idfa.")
    collection: Collection = "users"
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=1000)
    window: Window = "ever"
    blocked: list[BlockedValue] = Field(default_factory=list)
    trait_keys: list[str] = Field(
        default_factory=list, description="Traits whose values are identifiers of this type."
    )
    property_keys: list[str] = Field(
        default_factory=list, description="Event properties whose values are identifiers."
    )
    enabled: bool = True

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not _TYPE_RE.match(value):
            raise ValueError(
                "an identifier type is lower-case letters, digits, '_', '.' or '-' (≤ 64)"
            )
        return value


class IdentitySettings(BaseModel):
    """All identifier rules of a space; the list order is the priority (first = 1)."""

    model_config = ConfigDict(extra="forbid")

    identifiers: list[IdentifierRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> IdentitySettings:
        seen: set[tuple[str, str]] = set()
        for rule in self.identifiers:
            key = (rule.collection, rule.type)
            if key in seen:
                raise ValueError(f"identifier {rule.type!r} is listed twice")
            seen.add(key)
        return self

    def rule(self, id_type: str, collection: str = "users") -> IdentifierRule | None:
        """The rule of one type, if configured."""
        return next(
            (r for r in self.identifiers if r.type == id_type and r.collection == collection),
            None,
        )


def default_rule(id_type: str, suggested_blocks: bool = True) -> IdentifierRule:
    """The out-of-the-box rule of a default type (user_id 1 ever, others 5 ever)."""
    return IdentifierRule(
        type=id_type,
        collection="accounts" if id_type == "group_id" else "users",
        limit=1 if id_type == "user_id" else DEFAULT_LIMIT,
        blocked=list(SUGGESTED_BLOCKED) if suggested_blocks else [],
    )


def add_defaults(settings: IdentitySettings, suggested_blocks: bool = True) -> IdentitySettings:
    """Add whichever of the 11 default identifiers are missing ("Add default identifiers").

    Existing rules keep their settings and order; missing defaults go where the default
    priority puts them (user_id first, email second, others alphabetically after).
    """
    rules = list(settings.identifiers)
    for id_type in DEFAULT_TYPES:
        rule = default_rule(id_type, suggested_blocks)
        if settings.rule(id_type, rule.collection) is None:
            rules = insert_rule(rules, rule)
    return IdentitySettings(identifiers=rules)


def insert_rule(
    rules: list[IdentifierRule], rule: IdentifierRule, priority: int | None = None
) -> list[IdentifierRule]:
    """Insert ``rule`` at ``priority`` (1-based) or where the default order puts it."""
    out = [r for r in rules if not (r.type == rule.type and r.collection == rule.collection)]
    if priority is not None:
        out.insert(max(0, min(priority - 1, len(out))), rule)
        return out
    fixed = {"user_id": 0, "email": 1}
    if rule.type in fixed:
        out.insert(min(fixed[rule.type], len(out)), rule)
        return out
    # Others are alphabetical after user_id and email: a new type reshuffles the tail.
    position = len(out)
    for index, existing in enumerate(out):
        if existing.type not in fixed and existing.type > rule.type:
            position = index
            break
    out.insert(position, rule)
    return out


def out_of_the_box() -> IdentitySettings:
    """What a space that was never configured resolves with."""
    return add_defaults(IdentitySettings())


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule prepared for the resolver."""

    type: str
    collection: str
    priority: int
    limit: int
    window_ms: int | None
    exact_blocks: frozenset[str]
    regex_blocks: tuple[re.Pattern[str], ...]

    def blocks(self, value: str) -> bool:
        """Whether ``value`` is blocked for this type."""
        if value in self.exact_blocks:
            return True
        for pattern in self.regex_blocks:  # noqa: SIM110 (a plain loop: runs per identifier)
            if pattern.search(value):
                return True
        return False


class CompiledSettings:
    """Fast lookups over a space's rules; unknown types get the default priority and limit."""

    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self.rules: dict[tuple[str, str], CompiledRule] = {}
        for index, rule in enumerate(settings.identifiers):
            if not rule.enabled:
                continue
            self.rules[(rule.collection, rule.type)] = CompiledRule(
                rule.type,
                rule.collection,
                index + 1,
                rule.limit,
                WINDOW_MS[rule.window],
                frozenset(b.value for b in rule.blocked if b.kind == "exact"),
                tuple(re.compile(b.value) for b in rule.blocked if b.kind == "regex"),
            )
        self.disabled = {(r.collection, r.type) for r in settings.identifiers if not r.enabled}
        self.trait_keys = [
            (r.type, k) for r in settings.identifiers if r.enabled for k in r.trait_keys
        ]
        self.property_keys = [
            (r.type, k) for r in settings.identifiers if r.enabled for k in r.property_keys
        ]
        self._unknown: dict[tuple[str, str], CompiledRule] = {}

    def get(self, collection: str, id_type: str) -> CompiledRule | None:
        """The rule for a type; ``None`` if the type is disabled.

        Types nobody configured (say a new ``context.externalIds`` type) are auto-added as
        Segment does: default limit, priority after every configured type.
        """
        found = self.rules.get((collection, id_type))
        if found is not None:
            return found
        if (collection, id_type) in self.disabled:
            return None
        unknown = self._unknown.get((collection, id_type))
        if unknown is None:
            unknown = CompiledRule(
                id_type, collection, 10_000, DEFAULT_LIMIT, None, frozenset(), ()
            )
            self._unknown[(collection, id_type)] = unknown
        return unknown
