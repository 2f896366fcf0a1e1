"""The registry of destination adapters (entry-point group ``shoal.destinations``).

Built-ins register here exactly as a third-party package would in its metadata::

    [project.entry-points."shoal.destinations"]
    my_crm = "my_package.destination:plugin"

where ``plugin()`` returns a :class:`~shoal.destinations.base.DestinationFactory`.
"""

from __future__ import annotations

from shoal.destinations.base import DestinationFactory
from shoal.plugins import Registry

registry: Registry[DestinationFactory] = Registry("destinations")

BUILTINS = {
    "webhook": "shoal.destinations.webhook:plugin",
    "warehouse_duckdb": "shoal.destinations.warehouse.duckdb:plugin",
    "warehouse_postgres": "shoal.destinations.warehouse.postgres:plugin",
    "mixpanel": "shoal.destinations.mixpanel:plugin",
    "meta_conversions": "shoal.destinations.meta:plugin",
    "customerio": "shoal.destinations.customerio:plugin",
    "twilio_sms": "shoal.destinations.twilio:plugin",
    "braze": "shoal.destinations.braze:plugin",
    # dlt-backed warehouses (the "warehouses" extra); dlt is imported only when used.
    "warehouse_dlt_duckdb": "shoal.destinations.warehouse.dlt_targets:duckdb_plugin",
    "warehouse_bigquery": "shoal.destinations.warehouse.dlt_targets:bigquery_plugin",
    "warehouse_snowflake": "shoal.destinations.warehouse.dlt_targets:snowflake_plugin",
    "warehouse_clickhouse": "shoal.destinations.warehouse.dlt_targets:clickhouse_plugin",
}
for _name, _path in BUILTINS.items():
    registry.register(_name, _path)


def get_factory(name: str) -> DestinationFactory:
    """The adapter registered as ``name`` (``PluginError`` if none is)."""
    factory = registry.get(name)()
    if not isinstance(factory, DestinationFactory):
        raise TypeError(f"destination plugin {name!r} did not return a DestinationFactory")
    return factory
