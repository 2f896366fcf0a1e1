"""Browser fixtures: Playwright for Python driving Debian's Chromium against a real server.

The browser is ``/usr/bin/chromium`` from apt (``scripts/test`` installs it); Playwright's
own browser downloads are never used. Set ``SHOAL_SCREENSHOTS=docs/screenshots`` to save
the screenshots the tests take into the docs (otherwise they go to a temp dir).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.server import ShoalServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the browser are marked ``browser``."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; missing Chromium fails (never skips) the tests."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run `apt-get update && apt-get install -y chromium` "
            "(scripts/test does); never `playwright install`"
        )
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def context(browser: Browser, shoal: ShoalServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) that may use the clipboard."""
    ctx = browser.new_context(viewport=LAPTOP, base_url=shoal.url)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=shoal.url)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in the fresh profile, not signed in."""
    return context.new_page()


def sign_in(page: Page, token: str, next_path: str = "/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/signin?next={next_path}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/signin).*$"))


@pytest.fixture
def signed_in(page: Page, shoal: ShoalServer) -> Page:
    """The page, signed in as the workspace owner."""
    sign_in(page, shoal.token)
    return page


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$SHOAL_SCREENSHOTS`` or a temp dir."""
    wanted = os.environ.get("SHOAL_SCREENSHOTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def shot(page: Page, directory: Path, name: str, **options: Any) -> Path:
    """Save a screenshot of the page (the whole page unless told otherwise)."""
    target = directory / f"{name}.png"
    options.setdefault("full_page", True)
    page.screenshot(path=str(target), animations="disabled", **options)
    return target
