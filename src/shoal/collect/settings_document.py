"""``GET /v1/projects/{writeKey}/settings``: what every Segment SDK loads before sending.

analytics.js reads ``integrations["Segment.io"]`` unguarded and posts to
``{protocol}://{apiHost}``; the mobile SDKs switch their host to ``apiHost``. So apiHost
must be this server's address and path, without a scheme.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def settings_document(write_key: str, base_url: str) -> dict[str, Any]:
    """The settings document for a source, pointing the SDK back at ``base_url``."""
    parts = urlsplit(base_url)
    protocol = parts.scheme or "http"
    host = parts.netloc + parts.path.rstrip("/")
    api_host = f"{host}/v1"
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0.0, "host": api_host},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
        "consentSettings": {"allCategories": [], "hasUnmappedDestinations": False},
    }
