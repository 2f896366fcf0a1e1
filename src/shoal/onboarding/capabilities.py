"""What the guided setup can offer today, and what waits for capabilities still to come.

Destinations exist: the use case's recommended destination types (catalog categories such
as "Analytics") map to the adapters that declare that category, and eligibility counts the
workspace's connected destinations. Identity resolution (Unify) exists wherever the event
store is DuckDB: the setup adds default identifiers in dev and republishes identity rules
to prod. Audiences (Engage) are evaluated over identity resolution's profiles, so they
exist on the same servers: the setup creates an audience in dev and republishing imports
the dev audiences into prod. Elsewhere those steps, and the audience part of republishing,
report ``"available": false`` with the messages below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shoal.control import tables as t
from shoal.control.repo import ControlPlane
from shoal.destinations.base import DestinationFactory


@dataclass(frozen=True, slots=True)
class Capability:
    """A feature a setup step relies on."""

    name: str
    available: bool
    message: str


DESTINATIONS = Capability(
    "destinations",
    True,
    "Connect dev destinations of the recommended types; publishing copies them to prod.",
)
IDENTITY = Capability(
    "identity",
    True,
    "Add the default identifiers (types, value limits and priorities) to the dev space's "
    "identity resolution; republishing copies them to prod.",
)
IDENTITY_MISSING = Capability(
    "identity",
    False,
    "Identity resolution keeps profiles in the DuckDB event store, and this server runs "
    "another event store, so it has no Unify: start Shoal with the DuckDB store to use it.",
)
AUDIENCES = Capability(
    "audiences",
    True,
    "Create an audience in the dev space from your events and traits (the setup suggests "
    "one for your use case); republishing imports the dev audiences into prod.",
)
AUDIENCES_MISSING = Capability(
    "audiences",
    False,
    "Audiences are computed over the profiles identity resolution keeps in the DuckDB event "
    "store, and this server runs another event store, so it has no Engage: start Shoal with "
    "the DuckDB store to use it.",
)
REPUBLISH = Capability(
    "identity",
    True,
    "Republishing imports the dev space's identity rules and audiences into prod.",
)
REPUBLISH_AUDIENCES = Capability(
    "audiences",
    True,
    "Every dev audience is imported into prod with the same key, name, collection, "
    "definition and refresh policy; audiences prod already has (by key) are left alone.",
)
REPUBLISH_AUDIENCES_MISSING = Capability(
    "audiences",
    False,
    "Audiences are not imported: this server has no audiences (they need the DuckDB event "
    "store). Identity rules are imported.",
)

SOURCE_TYPES: dict[str, str | None] = {
    "Website": "website",
    "Mobile": "mobile",
    "Reverse ETL": None,
    "Advertising": None,
}
"""Catalog source type -> Shoal source type (``None``: Shoal cannot create it yet)."""

UNAVAILABLE_SOURCE_MESSAGES = {
    "Reverse ETL": "Shoal has no Reverse ETL sources yet (they read from a warehouse); "
    "connect a Website or Mobile source, or send from your servers with a server source.",
    "Advertising": "Shoal has no advertising (cloud app) sources yet; connect a Website or "
    "Mobile source instead.",
}
EXTRA_SOURCE_TYPES = ("server", "http")
"""Shoal source types the catalog does not recommend but the setup accepts."""


def connected_destination_count(control: ControlPlane, workspace_id: str) -> int:
    """How many enabled destinations of a workspace have at least one source connected.

    Args:
        control: The control plane.
        workspace_id: The workspace to count for.

    Returns:
        The number of connected destinations, dev and prod alike.
    """
    query = (
        select(t.destinations.c.id)
        .join(t.destination_sources, t.destination_sources.c.destination_id == t.destinations.c.id)
        .join(t.sources, t.sources.c.id == t.destination_sources.c.source_id)
        .where(t.destinations.c.workspace_id == workspace_id, t.destinations.c.enabled.is_(True))
        .distinct()
    )
    with control.engine.connect() as conn:
        return len(conn.execute(query).all())


def shoal_source_type(requested: str) -> str:
    """Map a requested source type (catalog or Shoal spelling) to a Shoal source type.

    Args:
        requested: ``"Website"``, ``"website"``, ``"server"``, ...

    Returns:
        The Shoal source type to create.

    Raises:
        ValueError: If the type is unknown or Shoal cannot create it yet (says why).
    """
    for catalog_name, shoal_type in SOURCE_TYPES.items():
        if requested in (catalog_name, catalog_name.lower()):
            if shoal_type is None:
                raise ValueError(UNAVAILABLE_SOURCE_MESSAGES[catalog_name])
            return shoal_type
    if requested in EXTRA_SOURCE_TYPES:
        return requested
    known = [k for k, v in SOURCE_TYPES.items() if v] + list(EXTRA_SOURCE_TYPES)
    raise ValueError(f"unknown source type {requested!r}; choose one of {', '.join(known)}")


UNAVAILABLE_DESTINATION_MESSAGES = {
    "Reverse ETL": "Shoal has no Reverse ETL (syncing warehouse tables out to your tools), "
    "so no destination of this type can be connected. To keep your events in a warehouse, "
    "connect a DuckDB or PostgreSQL warehouse destination from the other destination types.",
}


def unavailable_destination_message(category: str) -> str:
    """Why no destination of a recommended ``category`` can be connected."""
    return UNAVAILABLE_DESTINATION_MESSAGES.get(
        category,
        f"Shoal has no {category} destination yet; connect one of the other destination types.",
    )


def adapter_summary(factory: DestinationFactory) -> dict[str, Any]:
    """A destination adapter as the setup offers it."""
    return {
        "name": factory.name,
        "title": factory.title,
        "category": factory.category,
        "description": factory.description,
    }


def recommended_destinations(
    categories: Sequence[str], factories: Sequence[DestinationFactory]
) -> list[dict[str, Any]]:
    """Each recommended destination type with the adapters that declare that category."""
    out = []
    for category in categories:
        adapters = [adapter_summary(f) for f in factories if f.category == category]
        out.append(
            {
                "type": category,
                "available": bool(adapters),
                "adapters": adapters,
                "message": None if adapters else unavailable_destination_message(category),
            }
        )
    return out


def destination_factory(
    requested: str, factories: Sequence[DestinationFactory]
) -> DestinationFactory:
    """The adapter for a requested type: an adapter name (``webhook``) or a category
    (``Analytics``) that exactly one adapter declares.

    Raises:
        ValueError: If nothing (or more than one adapter) matches; the message says why.
    """
    for factory in factories:
        if requested == factory.name:
            return factory
    wanted = requested.strip().lower()
    matching = [f for f in factories if f.category.lower() == wanted]
    if len(matching) == 1:
        return matching[0]
    if matching:
        names = ", ".join(f.name for f in matching)
        raise ValueError(f"several destination types are {requested!r}: choose one of {names}")
    for category in UNAVAILABLE_DESTINATION_MESSAGES:
        if category.lower() == wanted:
            raise ValueError(UNAVAILABLE_DESTINATION_MESSAGES[category])
    known = ", ".join(f.name for f in factories)
    raise ValueError(f"unknown destination type {requested!r}; choose one of {known}")
