"""The web surface: the ASGI app that serves ``/v1`` (collect), ``/api/v1`` and ``/healthz``."""
