"""The destinations feature as the API and CLI use it: configure, connect, test, observe.

Every change is validated against the adapter's settings model and checked for unsafe
URLs before it is stored, then the destination's worker is restarted with it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shoal.control import ControlPlane, User
from shoal.control.repo import ENVIRONMENTS
from shoal.destinations import configuration
from shoal.destinations.activation import Activation
from shoal.destinations.activation_repo import ActivationRepo
from shoal.destinations.base import DestinationFactory
from shoal.destinations.configuration import SettingsVault
from shoal.destinations.crypto import KEY_FILE, SecretBox
from shoal.destinations.delivery import RetryPolicy
from shoal.destinations.engine import DeliveryEngine
from shoal.destinations.http import HttpClient
from shoal.destinations.ledger import Ledger
from shoal.destinations.metrics import Metrics
from shoal.destinations.probe import probe, sample_event
from shoal.destinations.reader import EventReader
from shoal.destinations.repo import Destination, DestinationRepo
from shoal.destinations.safety import AddressPolicy
from shoal.pipeline import EventHub
from shoal.settings import Settings
from shoal.store import EventStore

__all__ = ["DestinationService", "sample_event"]


class DestinationService:
    """Configuration, connections, tests, metrics, dead letters and replays."""

    def __init__(
        self, control: ControlPlane, store: EventStore, hub: EventHub, settings: Settings
    ) -> None:
        self.control = control
        self.box = SecretBox(settings.data_dir / KEY_FILE)
        self.repo = DestinationRepo(control, self.box)
        self.ledger = Ledger(control.engine)
        self.reader = EventReader(store)
        self.policy = AddressPolicy.of(
            settings.destinations_allow_private_urls, settings.destinations_allowed_networks
        )
        self.vault = SettingsVault(self.box, self.policy)
        self.http = HttpClient(
            self.policy,
            timeout=settings.destinations_request_timeout_seconds,
            max_body=settings.destinations_max_response_bytes,
        )
        retry = RetryPolicy(
            settings.destinations_retry_window_seconds,
            settings.destinations_backoff_min_seconds,
            settings.destinations_backoff_max_seconds,
        )
        self.engine = DeliveryEngine(
            self.repo,
            self.ledger,
            self.reader,
            hub,
            self.http,
            settings.data_dir,
            retry,
            settings.destinations_poll_seconds,
            self.settings_of,
        )
        # Audience list syncs share the HTTP client and the retry policy of delivery; the
        # runtime attaches the audiences they sync (``activation.attach``).
        self.activation = Activation(
            ActivationRepo(control.engine), self.repo, self.settings_of, self.engine.context,
            retry, settings.destinations_poll_seconds * 5,
        )  # fmt: skip

    async def start(self) -> None:
        """Start delivering for every enabled destination, and syncing audience lists."""
        await self.engine.start()
        await self.activation.start()

    async def stop(self) -> None:
        """Stop delivery and list syncs, and close connections."""
        await self.activation.stop()
        await self.engine.stop()
        await self.http.close()

    # -- types and settings ------------------------------------------------------------------

    @staticmethod
    def factory(type_name: str) -> DestinationFactory:
        """The adapter for a type name; ``ValueError`` (422) for unknown types."""
        return configuration.factory(type_name)

    @staticmethod
    def types() -> list[DestinationFactory]:
        """Every registered adapter that can be loaded."""
        return configuration.types()

    def settings_of(self, destination: Destination) -> BaseModel:
        """The destination's validated settings, secrets included."""
        return self.vault.settings_of(destination)

    # -- CRUD ---------------------------------------------------------------------------------

    async def create(self, user: User, body: dict[str, Any]) -> Destination:
        """Create a destination (delivery starts with events stored from now on)."""
        factory = self.factory(body["type"])
        if body.get("environment", "dev") not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
        plain, sealed = self.vault.split(self.vault.validated(factory, body.get("settings") or {}))
        filters, mappings = configuration.filters_and_mappings(
            factory, body.get("filters") or [], body.get("mappings") or []
        )
        destination = await asyncio.to_thread(
            self.repo.create,
            user.workspace_id,
            name=body["name"],
            type=factory.name,
            environment=body.get("environment", "dev"),
            enabled=body.get("enabled", True),
            settings=plain,
            secrets=sealed,
            filters=filters,
            mappings=mappings,
            max_in_flight=body.get("max_in_flight", 4),
            cursor=await self.reader.head(),
        )
        for source_id in body.get("source_ids") or []:
            await self.connect(user, destination.id, source_id, reload=False)
        await self.engine.reload(destination.id)
        return await asyncio.to_thread(self.repo.get, user.workspace_id, destination.id)

    async def get(self, user: User, destination_id: str) -> Destination:
        """One destination of the user's workspace."""
        return await asyncio.to_thread(self.repo.get, user.workspace_id, destination_id)

    async def list_destinations(
        self, user: User, environment: str | None = None
    ) -> list[Destination]:
        """The workspace's destinations."""
        return await asyncio.to_thread(self.repo.list_all, user.workspace_id, environment)

    async def update(self, user: User, destination_id: str, body: dict[str, Any]) -> Destination:
        """Change name, settings (secrets merge: omit to keep, null to clear), filters,
        mappings, enabled or max_in_flight."""
        current = await self.get(user, destination_id)
        factory = self.factory(current.type)
        changes: dict[str, Any] = {
            k: body[k] for k in ("name", "max_in_flight") if body.get(k) is not None
        }
        if body.get("settings") is not None:
            merged = self.vault.merged(current, body["settings"])
            model = self.vault.validated(factory, merged)
            changes["settings"], changes["secrets"] = self.vault.split(model)
        if body.get("filters") is not None or body.get("mappings") is not None:
            filters, mappings = configuration.filters_and_mappings(
                factory,
                body["filters"] if body.get("filters") is not None else current.filters,
                body["mappings"] if body.get("mappings") is not None else current.mappings,
            )
            changes.update(filters=filters, mappings=mappings)
        if body.get("enabled") is not None:
            changes["enabled"] = body["enabled"]
            if body["enabled"] and not current.enabled:
                # As in Segment, a destination re-enabled gets events from now on.
                await asyncio.to_thread(
                    self.ledger.set_cursor, destination_id, await self.reader.head()
                )
        updated = await asyncio.to_thread(
            self.repo.update, user.workspace_id, destination_id, changes
        )
        await self.engine.reload(destination_id)
        return updated

    async def delete(self, user: User, destination_id: str) -> None:
        """Delete a destination, its dead letters and its delivery state."""
        await asyncio.to_thread(self.repo.delete, user.workspace_id, destination_id)
        await self.engine.reload(destination_id)

    async def connect(
        self, user: User, destination_id: str, source_id: str, reload: bool = True
    ) -> Destination:
        """Connect a source of the same environment."""
        destination = await self.get(user, destination_id)
        source = await asyncio.to_thread(self.control.get_source, user.workspace_id, source_id)
        if source.environment != destination.environment:
            raise ValueError(
                f"source {source.id} is a {source.environment} source and destination "
                f"{destination.id} is a {destination.environment} destination; connect "
                "sources and destinations of the same environment"
            )
        await asyncio.to_thread(self.repo.connect, destination_id, source_id)
        if reload:
            await self.engine.reload(destination_id)
        return await self.get(user, destination_id)

    async def disconnect(self, user: User, destination_id: str, source_id: str) -> Destination:
        """Stop sending a source's events to the destination."""
        await self.get(user, destination_id)
        await asyncio.to_thread(self.repo.disconnect, destination_id, source_id)
        await self.engine.reload(destination_id)
        return await self.get(user, destination_id)

    def connected_count(self, workspace_id: str) -> int:
        """Enabled destinations with a source connected (the setup checklist counts these)."""
        return self.repo.connected_count(workspace_id)

    # -- test, metrics, dead letters, replay -------------------------------------------------

    async def test(
        self, user: User, destination_id: str, message: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """Send one sample event through the mappings (not the filters) and report answers."""
        destination = await self.get(user, destination_id)
        adapter = self.factory(destination.type)
        settings = self.settings_of(destination)
        return await probe(adapter, destination, settings, self.engine.context, message)

    async def metrics(self, user: User, destination_id: str) -> dict[str, Any]:
        """Delivery metrics plus the cursor and the backlog behind it."""
        destination = await self.get(user, destination_id)
        live = self.engine.metrics.get(destination_id)
        state = await asyncio.to_thread(self.ledger.state, destination_id)
        if live is None:
            live = Metrics()
            live.load(state)
        backlog = await self.reader.backlog(state.cursor, destination.source_ids)
        return {
            "destination_id": destination_id,
            "enabled": destination.enabled,
            "running": destination_id in self.engine.running,
            "cursor": state.cursor,
            "backlog": backlog,
            **live.snapshot(),
        }

    async def dead_letters(
        self, user: User, destination_id: str, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of dead letters, newest first."""
        await self.get(user, destination_id)
        return await asyncio.to_thread(self.ledger.dead_letters, destination_id, limit, offset)

    async def replay(self, user: User, destination_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start a replay of dead letters (all pending, or ``dead_letter_ids``) or of the
        events received in ``[from, to)``."""
        await self.get(user, destination_id)
        if body.get("from") is not None or body.get("to") is not None:
            start, end = body.get("from"), body.get("to")
            if not isinstance(start, datetime) or not isinstance(end, datetime) or start >= end:
                raise ValueError("a range replay needs 'from' earlier than 'to' (ISO 8601)")
            params: dict[str, Any] = {
                "from_ms": int(start.timestamp() * 1000),
                "to_ms": int(end.timestamp() * 1000),
            }
            kind = "range"
        else:
            ids = body.get("dead_letter_ids")
            event_ids = await asyncio.to_thread(self.ledger.take_dead_letters, destination_id, ids)
            if not event_ids:
                raise ValueError("there are no dead letters to replay")
            params, kind = {"event_ids": event_ids}, "dead_letters"
        job = await asyncio.to_thread(
            self.ledger.create_replay, destination_id, kind, params, user.id
        )
        self.engine.start_replay(destination_id, job)
        return job
