"""A lazy registry of backends, filled by built-ins and by entry points.

Built-in backends register exactly as a third-party package would: with a name and the
dotted path of a factory, imported only when the backend is first used. Third parties
add ``[project.entry-points."shoal.<kind>"]`` entries to their package metadata.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class PluginError(LookupError):
    """A backend name that nothing registered, or a factory that failed to import."""


class Registry(Generic[T]):
    """Name → factory, resolved lazily so optional dependencies stay optional."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._paths: dict[str, str] = {}
        self._loaded: dict[str, Callable[..., T]] = {}
        self._entry_points_read = False

    def register(self, name: str, target: str | Callable[..., T]) -> None:
        """Register ``name`` → a factory or the ``"module:attr"`` path of one."""
        if isinstance(target, str):
            self._paths[name] = target
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = target

    def names(self) -> list[str]:
        """All registered names, built-ins and entry points."""
        self._read_entry_points()
        return sorted(set(self._paths) | set(self._loaded))

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered as ``name``, importing it on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._read_entry_points()
        path = self._paths.get(name)
        if path is None:
            known = ", ".join(self.names()) or "none"
            raise PluginError(f"no {self.kind} backend named {name!r} (known: {known})")
        module_name, _, attr = path.partition(":")
        try:
            target: object = importlib.import_module(module_name)
            for part in attr.split("."):
                target = getattr(target, part)
        except ImportError as exc:
            raise PluginError(
                f"{self.kind} backend {name!r} needs a package that is not installed: {exc}"
            ) from exc
        if not callable(target):
            raise PluginError(f"{self.kind} backend {name!r} ({path}) is not callable")
        factory: Callable[..., T] = target
        self._loaded[name] = factory
        return factory

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=f"shoal.{self.kind}"):
            self._paths.setdefault(ep.name, ep.value)


def url_path(url: str) -> Path:
    """The file path of a ``scheme:///relative`` or ``scheme:////absolute`` URL.

    This is SQLAlchemy's convention, so one data-dir URL reads the same everywhere.
    """
    _, sep, rest = url.partition("://")
    if not sep or not rest.startswith("/"):
        raise PluginError(f"{url!r} is not a file URL like scheme:///path/to/file")
    return Path(rest[1:])
