"""Checking a destination's configuration before it is stored: adapter, settings (with the
unsafe-URL check), secrets apart from plain settings, filters and mappings.

Errors are ``ValueError`` with a readable message (the API answers 422), except FQL that
does not parse, which stays an ``FQLError`` naming the filter or mapping it is in (400).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shoal.destinations.base import DestinationFactory, plain_settings, secret_fields
from shoal.destinations.crypto import SecretBox
from shoal.destinations.filters import DestinationFilter
from shoal.destinations.fql import FQLError
from shoal.destinations.mappings import Mapping, validate_mappings
from shoal.destinations.registry import get_factory, registry
from shoal.destinations.repo import Destination
from shoal.destinations.safety import AddressPolicy
from shoal.plugins import PluginError

M = TypeVar("M", bound=BaseModel)


def readable(exc: ValidationError) -> str:
    """A pydantic error as one line: ``where: what; where: what``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
        for err in exc.errors()
    )


def _fql_error(exc: ValidationError, where: str) -> FQLError | None:
    """The FQL error inside a validation error, its message prefixed with where it is."""
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FQLError):
            path = ".".join(str(p) for p in err["loc"])
            located = f"{where}.{path}" if path else where
            error = FQLError(cause.reason, cause.position, cause.source)
            error.args = (f"{located}: {cause}",)
            return error
    return None


def factory(type_name: str) -> DestinationFactory:
    """The adapter for a type name; ``ValueError`` (422) for unknown types."""
    try:
        return get_factory(type_name)
    except PluginError as exc:
        raise ValueError(str(exc)) from None


def types() -> list[DestinationFactory]:
    """Every registered adapter that can be loaded."""
    out = []
    for name in registry.names():
        try:
            out.append(get_factory(name))
        except (PluginError, TypeError):
            continue
    return out


def _each(model: type[M], items: list[Any], kind: str) -> list[M]:
    out: list[M] = []
    for index, item in enumerate(items):
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            fql = _fql_error(exc, f"{kind}[{index}]")
            if fql is not None:
                raise fql from None
            raise ValueError(f"{kind}[{index}]: {readable(exc)}") from None
    return out


def filters_and_mappings(
    adapter: DestinationFactory, filters: list[Any], mappings: list[Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validated filters and mappings in their stored form (trees; FQL text is parsed)."""
    parsed_filters = _each(DestinationFilter, filters, "filters")
    parsed_mappings = _each(Mapping, mappings, "mappings")
    validate_mappings(adapter, parsed_mappings)
    return (
        [f.model_dump(mode="json", by_alias=True) for f in parsed_filters],
        [m.model_dump(mode="json") for m in parsed_mappings],
    )


class SettingsVault:
    """Validates adapter settings and keeps their secrets sealed."""

    def __init__(self, box: SecretBox, policy: AddressPolicy) -> None:
        self.box = box
        self.policy = policy

    def settings_of(self, destination: Destination) -> BaseModel:
        """The destination's validated settings, secrets included."""
        adapter = get_factory(destination.type)
        merged = {**destination.settings, **self.box.open(destination.secrets)}
        return adapter.settings_model.model_validate(merged)

    def validated(self, adapter: DestinationFactory, data: dict[str, Any]) -> BaseModel:
        """Settings checked against the adapter's model and the address policy."""
        try:
            model = adapter.settings_model.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"invalid {adapter.name} settings: {readable(exc)}") from None
        for name in adapter.url_fields:
            value = getattr(model, name, None)
            if value:
                self.policy.check_url(str(value))
        if adapter.check is not None:
            adapter.check(model, self.policy)
        return model

    def merged(self, destination: Destination, changes: dict[str, Any]) -> dict[str, Any]:
        """Current settings and secrets with ``changes`` applied (``None`` clears a key)."""
        merged = {**destination.settings, **self.box.open(destination.secrets), **changes}
        return {k: v for k, v in merged.items() if v is not None}

    @staticmethod
    def split(model: BaseModel) -> tuple[dict[str, Any], dict[str, str]]:
        """Plain settings and secret settings (to be sealed) of a validated model."""
        secrets = secret_fields(type(model))
        data = plain_settings(model)
        plain = {k: v for k, v in data.items() if k not in secrets}
        sealed = {k: str(data[k]) for k in secrets if data.get(k) is not None}
        return plain, sealed
