"""The destination plugin interface: what every adapter, built-in or third-party, provides.

An adapter is a folder with a ``factory``: a :class:`DestinationFactory` declaring its
category, capabilities, settings model (pydantic; ``SecretStr`` fields are secrets, stored
encrypted and never returned by the API), its actions with default field mappings, and a
``create`` callable that builds a :class:`DestinationClient` from validated settings.

The delivery engine turns each stored event into zero or more action payloads (filters,
then mappings) and calls ``client.send(action, payloads)`` with a batch no larger than
``capabilities.max_batch_size``. The client answers with an :class:`Outcome`; the engine
owns retries, dead letters, ordering and metrics, so adapters only speak their vendor's API.

Audience activation fits the same interface: Audience Entered/Exited are ``track`` events
that go through mappings like any other, and list syncs call ``sync_list`` with batches
of members to add and remove (``capabilities.list_sync``).
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr

from shoal.destinations.http import Answer, HttpClient
from shoal.destinations.safety import AddressPolicy

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter can do; the engine batches and routes by it."""

    batching: bool
    max_batch_size: int = 1
    event_types: tuple[str, ...] = MESSAGE_TYPES
    list_sync: bool = False
    """Accepts audience list syncs (add/remove member batches) through ``sync_list``."""


@dataclass(frozen=True, slots=True)
class Action:
    """One thing an adapter can do with an event (e.g. "Track Event", "Identify User")."""

    name: str
    title: str
    trigger: dict[str, Any]
    """Default trigger: ``{"match": "all"|"any", "conditions": [...]}`` (see ``filters``)."""
    fields: dict[str, Any] | None
    """Default field mappings (directives, see ``mappings``); ``None`` sends the message."""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the vendor answered to one request."""

    ok: bool
    status: int | None
    """HTTP status; ``None`` for a network error or timeout."""
    body: str = ""
    """The answer's body, bounded."""
    retryable: bool = False
    retry_after: float | None = None
    """Seconds the vendor asked us to wait (``Retry-After``)."""
    rejected: Mapping[int, str] = field(default_factory=dict)
    """Indexes in the batch the vendor refused for good although the request succeeded."""
    error: str | None = None
    """A short reason for failures, for metrics and dead letters."""


@dataclass(frozen=True, slots=True)
class ListMember:
    """One member of an audience list sync: the profile and its identifiers."""

    profile_id: str
    identifiers: Mapping[str, str]
    """E.g. ``{"email": ..., "phone": ..., "user_id": ...}``; adapters hash what they need."""


class DestinationClient(Protocol):
    """A configured adapter instance, able to send to its vendor."""

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Send one batch of payloads of one action."""

    async def close(self) -> None:
        """Release connections and files."""


class ListSyncClient(DestinationClient, Protocol):
    """A client that also syncs audience lists (``capabilities.list_sync``)."""

    async def sync_list(
        self, list_id: str, add: list[ListMember], remove: list[ListMember]
    ) -> Outcome:
        """Add and remove members of the vendor-side list ``list_id``."""


@dataclass(frozen=True, slots=True)
class Context:
    """What the engine hands an adapter when it builds a client."""

    http: HttpClient
    data_dir: Path


@dataclass(frozen=True, slots=True)
class DestinationFactory:
    """The plugin: registered under ``name`` in the ``shoal.destinations`` registry."""

    name: str
    title: str
    category: str
    """One of the catalog's destination types, e.g. "Analytics", "Email Marketing"."""
    capabilities: Capabilities
    settings_model: type[BaseModel]
    actions: tuple[Action, ...]
    create: Callable[[Any, Context], Awaitable[DestinationClient]]
    """``async create(settings, context)``: settings is an instance of ``settings_model``."""
    description: str = ""
    url_fields: tuple[str, ...] = ()
    """Settings holding URLs that must pass the private-address check when configured."""
    check: Callable[[Any, AddressPolicy], None] | None = None
    """Extra validation of settings (e.g. a database host against the address policy)."""

    def action(self, name: str) -> Action:
        """The action called ``name``; ``KeyError`` if the adapter has none."""
        for action in self.actions:
            if action.name == name:
                return action
        raise KeyError(name)


def secret_fields(model: type[BaseModel]) -> list[str]:
    """Names of the fields of a settings model that are secrets (typed ``SecretStr``)."""
    names = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        if annotation is SecretStr or SecretStr in args:
            names.append(name)
    return names


def plain_settings(settings: BaseModel) -> dict[str, Any]:
    """A settings model as JSON-ready data with secrets revealed (for encryption only)."""
    data = settings.model_dump(mode="json")
    for name in secret_fields(type(settings)):
        value = getattr(settings, name)
        data[name] = value.get_secret_value() if isinstance(value, SecretStr) else None
    return data


def outcome_of(answer: Answer, rejected: Mapping[int, str] | None = None) -> Outcome:
    """What an HTTP answer means for delivery (every vendor adapter reads answers so).

    A 2xx is delivered, minus the payloads ``rejected`` names. A failing answer that names
    refused payloads (Mixpanel's 400 with ``failed_records``) is a partial success: the
    others were accepted. Otherwise 429, 408, 5xx and network errors are retried and other
    answers refused for good.
    """
    if answer.ok or rejected:
        return Outcome(True, answer.status, answer.body, rejected=rejected or {})
    error = f"HTTP {answer.status}" if answer.status else (answer.error or "network error")
    return Outcome(
        False,
        answer.status,
        answer.body,
        retryable=answer.retryable,
        retry_after=answer.retry_after(),
        error=error,
    )
