"""What the guided setup can offer today, and what waits for capabilities still to come.

Destinations, identity (Unify) and audiences (Engage) arrive with their own issues. Until
then the steps that need them report ``"available": false`` with one of the messages
below, and eligibility counts connected destinations through ``connected_destination_count``,
which answers 0 until destinations exist (so every workspace is eligible for now).
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.control.repo import ControlPlane


@dataclass(frozen=True, slots=True)
class Capability:
    """A feature a setup step relies on."""

    name: str
    available: bool
    message: str


DESTINATIONS = Capability(
    "destinations",
    False,
    "Shoal cannot connect destinations yet: they arrive with the destinations feature. "
    "This step stays open and publishing to prod carries only your sources until then.",
)
IDENTITY = Capability(
    "identity",
    False,
    "Adding default identifiers needs Unify (identity resolution), which Shoal does not "
    "have yet; this step becomes available when identity resolution lands.",
)
AUDIENCES = Capability(
    "audiences",
    False,
    "Creating an audience needs Engage (audiences), which Shoal does not have yet; this "
    "step becomes available when audiences land.",
)
REPUBLISH = Capability(
    "identity and audiences",
    False,
    "Republishing imports identity rules and audiences from dev into prod; it becomes "
    "available when Shoal has identity resolution and audiences.",
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
    """How many destinations a workspace has connected.

    Shoal has no destinations yet, so this is 0; the destinations feature replaces the body
    with a real count, and eligibility (``shoal.onboarding.flow``) follows automatically.

    Args:
        control: The control plane.
        workspace_id: The workspace to count for.

    Returns:
        The number of connected destinations (always 0 for now).
    """
    del control, workspace_id
    return 0


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
