"""In-process helpers for the web app's pages: a signed-in client that fills in the CSRF
token, and the alerts and notices a page shows."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from shoal.runtime import Runtime
from shoal.settings import Settings
from shoal.web.app import create_app
from tests.inprocess import TOKEN, App

_ALERT = re.compile(r'role="alert"[^>]*>(.*?)</(?:div|p)>', re.S)
_STATUS = re.compile(r'class="notice notice-ok" role="status">(.*?)</div>', re.S)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def ui_app(data: Path, **settings: Any) -> Iterator[App]:
    """The app in-process; its destinations may reach receivers on 127.0.0.1."""
    runtime = Runtime(
        Settings(
            data_dir=data,
            admin_token=TOKEN,
            destinations_allowed_networks=["127.0.0.0/8"],
            destinations_backoff_min_seconds=0.05,
            destinations_backoff_max_seconds=0.2,
            destinations_poll_seconds=0.2,
            **settings,
        )
    )
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield App(client)


class Signed:
    """A browser-like client signed in with an API token; posts carry the CSRF token."""

    def __init__(self, client: TestClient, token: str = TOKEN) -> None:
        self.client = client
        client.cookies.clear()
        answer = client.post("/signin", data={"token": token}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        found = _CSRF.search(client.get("/plans/new").text)
        assert found is not None
        self.csrf = found.group(1)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a page, following redirects."""
        return self.client.get(path, follow_redirects=True, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """Post a form as the page would (with the CSRF token), following redirects."""
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=form, follow_redirects=True, **kwargs)


def text(fragment: str) -> str:
    """Markup to the words it shows."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def alerts(page: httpx.Response) -> list[str]:
    """The error messages a page shows (``role="alert"``)."""
    return [text(a) for a in _ALERT.findall(page.text)]


def notices(page: httpx.Response) -> list[str]:
    """The success notices a page shows."""
    return [text(n) for n in _STATUS.findall(page.text)]


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{check} never held")


def unbatched_webhook(name: str, url: str, source_id: str) -> dict[str, Any]:
    """The Config API body of a webhook that posts each event on its own (one dead letter
    per refused event)."""
    return {
        "name": name,
        "type": "webhook",
        "settings": {"url": url, "batch": False},
        "source_ids": [source_id],
    }
