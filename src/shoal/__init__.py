"""Shoal: an open-source customer data platform.

The package is laid out along the data path: ``collect`` (the Segment-compatible HTTP
edge) → ``queue`` (durable hand-off) → ``pipeline`` (normalize, validate, resolve,
store) → ``store`` (the event store), beside ``control`` (workspaces, sources, tokens),
``web`` (Config API and app) and ``cli``.
"""

__version__ = "0.1.0"
