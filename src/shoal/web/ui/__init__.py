"""The web app served under ``/``: sign-in, sources, the live debugger, guided setup,
profiles, destinations and deliveries, tracking plans.

Server-rendered Jinja2 pages with htmx and a little vanilla JavaScript; every asset is
served by Shoal itself. ``shoal.web.ui.mount.mount_ui`` attaches it to the ASGI app. This
package's ``__init__`` imports nothing, so ``shoal.web.api.deps`` can import the session
store without a cycle.
"""
