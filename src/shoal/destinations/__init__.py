"""Destinations: deliver stored events to vendors, warehouses and webhooks.

See ``docs/destinations.md``. The plugin interface is in ``base`` (HTTP adapters build on
``vendor_client``); adapters live in subpackages and register in ``registry``;
``service.DestinationService`` is what the runtime, the Config API and the CLI use, with
``configuration`` (checking settings, filters, mappings) and ``probe`` (test sends).
Conditions are trees (``conditions``) with an FQL text form (``fql``).
"""

from shoal.destinations.base import (
    Action,
    Capabilities,
    Context,
    DestinationClient,
    DestinationFactory,
    ListMember,
    Outcome,
)
from shoal.destinations.registry import get_factory, registry

__all__ = [
    "Action",
    "Capabilities",
    "Context",
    "DestinationClient",
    "DestinationFactory",
    "ListMember",
    "Outcome",
    "get_factory",
    "registry",
]
