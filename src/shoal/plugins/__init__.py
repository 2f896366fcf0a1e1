"""Plugin registries: how queue, store and (later) destination backends are found."""

from shoal.plugins.registry import PluginError, Registry, url_path

__all__ = ["PluginError", "Registry", "url_path"]
