"""``shoal serve``: first start, sign-in instructions, token recovery, clean stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server import ShoalServer


def _shoal(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m shoal ARGS`` with ``env`` on top of this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_first_start_prints_a_token_that_works(tmp_path: Path) -> None:
    server = ShoalServer(tmp_path / "data", env={"SHOAL_ADMIN_TOKEN": ""})
    server.start()
    try:
        log = server.log()
        token = next(
            line.split(": ")[-1].strip() for line in log.splitlines() if "API token (shown" in line
        )
        assert "shoal login --url" in log
        me = httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "owner"
    finally:
        assert server.stop() == 0
    # A second start creates nothing and prints no token.
    server.start()
    try:
        assert server.log().count("API token (shown") == 1
    finally:
        server.stop()


def test_admin_token_from_env_and_clean_stop(tmp_path: Path) -> None:
    server = ShoalServer(tmp_path / "data").start()
    response = server.api("GET", "/me")
    assert response.status_code == 200
    assert "SHOAL_ADMIN_TOKEN" in server.log()
    assert server.stop() == 0
    assert "Traceback" not in server.log()


def test_token_create_recovers_access(tmp_path: Path) -> None:
    server = ShoalServer(tmp_path / "data").start()
    server.stop()
    result = _shoal("token", "create", "--data-dir", str(server.data_dir))
    assert result.returncode == 0, result.stderr
    server.token = result.stdout.strip()
    server.start()
    try:
        assert server.api("GET", "/me").status_code == 200
    finally:
        server.stop()


def test_token_create_on_an_empty_dir_explains(tmp_path: Path) -> None:
    result = _shoal("token", "create", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 1 and "start `shoal serve" in result.stderr


def test_accepted_events_survive_a_clean_stop(tmp_path: Path) -> None:
    server = ShoalServer(tmp_path / "data").start()
    source = server.create_source("durable")
    batch = {"batch": [{"type": "track", "event": f"E{i}", "userId": "u"} for i in range(500)]}
    for _ in range(4):
        response = httpx.post(server.url + "/v1/batch", json=batch, auth=(source["write_key"], ""))
        assert response.status_code == 200
    assert server.stop() == 0
    server.start()
    try:
        status = server.api("GET", "/status").json()
        events = server.wait_for_events(source["id"], 1000)
        assert len(events) == 1000 and status["pipeline"]["failures"] == 0
    finally:
        server.stop()


def test_invalid_settings_are_named_without_a_traceback(tmp_path: Path) -> None:
    result = _shoal(
        "serve",
        "--port",
        "0",
        SHOAL_DATA_DIR=str(tmp_path / "data"),
        SHOAL_STORE_CHECKPOINT_THRESHOLD="lots",
        SHOAL_PIPELINE_BATCH_SIZE="0",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "SHOAL_STORE_CHECKPOINT_THRESHOLD=lots: expected a size above zero" in result.stderr
    assert "SHOAL_PIPELINE_BATCH_SIZE=0: Input should be greater than or equal to 1" in (
        result.stderr
    )
    assert not (tmp_path / "data").exists()


def test_token_create_names_invalid_settings_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = _shoal("token", "create", "--data-dir", str(data), SHOAL_STORE_MEMORY_LIMIT="0MB")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "SHOAL_STORE_MEMORY_LIMIT=0MB: expected a size above zero" in result.stderr
    assert not data.exists()
