"""The guided setup's destinations: offered from the use case, connected in dev, copied to prod.

The "Connect dev destinations" step holds the dev destinations connected to the setup's
dev sources; it creates them through ``DestinationService`` (so settings are validated,
secrets sealed and unsafe URLs refused exactly as the destinations API does) or adopts an
existing dev destination. Publishing copies each one to prod on the server: the same type,
plain settings, sealed secrets (opened and sealed again, never sent through the API),
filters, mappings, concurrency and enabled flag, connected to the prod twins of its sources.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from shoal.control import Source, User
from shoal.control.repo import Conflict, NotFound
from shoal.destinations.base import DestinationFactory
from shoal.destinations.repo import Destination
from shoal.destinations.service import DestinationService
from shoal.onboarding import capabilities as caps
from shoal.onboarding.errors import SetupError
from shoal.onboarding.repo import PublishedDestination, SetupRecord


def _invalid(message: str) -> SetupError:
    return SetupError(422, "invalid_request", message)


def describe(
    destination: Destination, factories: list[DestinationFactory], secrets: list[str]
) -> dict[str, Any]:
    """A destination as the setup view shows it: configuration, never secret values."""
    factory = next((f for f in factories if f.name == destination.type), None)
    return {
        "id": destination.id,
        "name": destination.name,
        "type": destination.type,
        "title": factory.title if factory else destination.type,
        "category": factory.category if factory else None,
        "environment": destination.environment,
        "enabled": destination.enabled,
        "settings": destination.settings,
        "secrets_set": secrets,
        "source_ids": list(destination.source_ids),
    }


class SetupDestinations:
    """Reads, connects and publishes the destinations of a workspace's guided setup."""

    def __init__(self, service: DestinationService) -> None:
        self.service = service

    def factories(self) -> list[DestinationFactory]:
        """Every destination adapter this server has."""
        return self.service.types()

    def of(
        self, record: SetupRecord, dev_source_ids: Sequence[str]
    ) -> tuple[list[Destination], list[Destination]]:
        """The dev destinations connected to the setup's dev sources, and the prod copies
        published from them that still exist (blocking: run it in a thread)."""
        everything = self.service.repo.list_all(record.workspace_id)
        wanted = set(dev_source_ids)
        dev = [d for d in everything if d.environment == "dev" and wanted & set(d.source_ids)]
        by_id = {d.id: d for d in everything}
        prod = [
            by_id[p.prod_destination_id]
            for p in record.prod_destinations
            if p.prod_destination_id in by_id
        ]
        return dev, prod

    def secrets_set(self, destination: Destination) -> list[str]:
        """Names of the destination's secret settings that have a value (never the values)."""
        return sorted(self.service.box.open(destination.secrets))

    @staticmethod
    def _targets(dev_sources: Sequence[Source], source_ids: Sequence[str] | None) -> list[Source]:
        if not source_ids:
            return list(dev_sources)
        known = {s.id: s for s in dev_sources}
        missing = [i for i in source_ids if i not in known]
        if missing:
            raise _invalid(
                f"not dev sources of this setup: {', '.join(missing)}; connect the "
                "destination to sources of the 'Connect dev sources' step"
            )
        return [known[i] for i in dict.fromkeys(source_ids)]

    async def connect_dev(
        self,
        user: User,
        dev_sources: Sequence[Source],
        *,
        type: str | None,
        name: str | None,
        settings: dict[str, Any] | None,
        destination_id: str | None,
        source_ids: Sequence[str] | None,
    ) -> Destination:
        """Create a dev destination of a recommended (or other) type, or adopt an existing
        dev one, and connect it to the chosen dev sources of the setup (all by default)."""
        if not dev_sources:
            raise SetupError(
                409,
                "step_not_ready",
                "connect a dev source first: a destination receives the events of the "
                "sources connected to it",
            )
        targets = self._targets(dev_sources, source_ids)
        if destination_id is not None:
            if type or name or settings:
                raise _invalid("give either 'destination_id' or 'type', 'name' and 'settings'")
            found = await self.service.get(user, destination_id)
            if found.environment != "dev":
                raise _invalid(
                    f"destination {found.name!r} is a {found.environment} destination; "
                    "connect a dev one (publishing creates the prod copies)"
                )
            for source in targets:
                await self.service.connect(user, found.id, source.id)
            return await self.service.get(user, found.id)
        if not type or not name:
            raise _invalid(
                "give a destination 'type', 'name' and 'settings', or a 'destination_id'"
            )
        factory = caps.destination_factory(type, self.factories())
        body = {
            "name": name,
            "type": factory.name,
            "environment": "dev",
            "settings": settings or {},
            "source_ids": [s.id for s in targets],
        }
        return await self.service.create(user, body)

    async def _copy(self, dev: Destination) -> Destination:
        """A prod destination configured like ``dev``; the secrets never leave the server."""
        service = self.service
        try:
            return await asyncio.to_thread(
                service.repo.create,
                dev.workspace_id,
                name=dev.name,
                type=dev.type,
                environment="prod",
                enabled=dev.enabled,
                settings=dict(dev.settings),
                secrets=service.box.open(dev.secrets),
                filters=list(dev.filters),
                mappings=list(dev.mappings),
                max_in_flight=dev.max_in_flight,
                cursor=await service.reader.head(),
            )
        except Conflict as exc:
            raise Conflict(
                f"a prod destination named {dev.name!r} already exists; rename the dev "
                "destination or the prod one, then publish again"
            ) from exc

    async def publish(
        self,
        user: User,
        record: SetupRecord,
        dev: Sequence[Destination],
        chosen: Sequence[Destination] | None,
    ) -> tuple[PublishedDestination, ...]:
        """Copy the ``chosen`` dev destinations (by default every one connected to a
        published source) to prod, once each, and connect every copy to the prod twins of
        its dev sources. Returns the setup's published pairs."""
        twins = {p.dev_source_id: p.prod_source_id for p in record.prod_sources}
        _dev, existing = await asyncio.to_thread(self.of, record, ())
        prod = {d.id: d for d in existing}
        before = set(prod)
        pairs = {p.dev_destination_id: p for p in record.prod_destinations}
        pairs = {k: p for k, p in pairs.items() if p.prod_destination_id in prod}
        if chosen is None:
            chosen = [d for d in dev if any(s in twins for s in d.source_ids)]
        for destination in chosen:
            if destination.id not in pairs and not any(s in twins for s in destination.source_ids):
                raise SetupError(
                    409,
                    "step_not_ready",
                    f"destination {destination.name!r} is connected to no published source; "
                    "publish one of its dev sources with it",
                )
        for destination in chosen:
            if destination.id not in pairs:
                copy = await self._copy(destination)
                prod[copy.id] = copy
                pairs[destination.id] = PublishedDestination(destination.id, copy.id)
        for destination in dev:
            pair = pairs.get(destination.id)
            if pair is None:
                continue
            copy = prod[pair.prod_destination_id]
            changed = copy.id not in before
            for source_id in destination.source_ids:
                if source_id in twins and twins[source_id] not in copy.source_ids:
                    try:
                        await self.service.connect(user, copy.id, twins[source_id], reload=False)
                    except NotFound:
                        continue  # the prod source was deleted since publishing
                    changed = True
            if changed:
                await self.service.engine.reload(copy.id)
        return tuple(pairs.values())
