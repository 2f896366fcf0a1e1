"""Fixtures shared by the whole suite."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import App, running_app
from tests.server import ShoalServer

_names = itertools.count(1)


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    """A real ``shoal serve`` shared by one test module."""
    server = ShoalServer(tmp_path_factory.mktemp("shoal") / "data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def source(shoal: ShoalServer) -> dict[str, Any]:
    """A fresh dev source on the module's server."""
    return shoal.create_source(f"source {next(_names)}")


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    """An empty data dir for tests that start their own server."""
    return tmp_path / "data"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The whole app in-process (real SQLite and DuckDB in a temp dir), per test module."""
    with running_app(tmp_path_factory.mktemp("app")) as client:
        yield client
