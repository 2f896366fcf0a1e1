"""The CLI drives a real server through the Config API (``--json`` for scripts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ShoalServer


def shoal_cli(
    server: ShoalServer, *args: str, check: bool = True, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_TOKEN": server.token}
    if home is not None:
        env["SHOAL_CONFIG"] = str(home / "cli.json")
        env.pop("SHOAL_TOKEN")
        env.pop("SHOAL_URL")
    result = subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def test_source_lifecycle(shoal: ShoalServer) -> None:
    created = as_json(
        shoal_cli(shoal, "source", "create", "CLI web", "--type", "website", "--json")
    )
    assert created["id"].startswith("src_") and created["write_key"]
    listed = as_json(shoal_cli(shoal, "source", "list", "--json"))
    assert created["id"] in {s["id"] for s in listed}
    by_name = as_json(shoal_cli(shoal, "source", "get", "CLI web", "--json"))
    assert by_name["id"] == created["id"]
    rotated = as_json(shoal_cli(shoal, "source", "rotate-key", created["id"], "--json"))
    assert rotated["write_key"] != created["write_key"]
    disabled = as_json(shoal_cli(shoal, "source", "disable", created["id"], "--json"))
    assert disabled["enabled"] is False
    deleted = as_json(shoal_cli(shoal, "source", "delete", created["id"], "--json"))
    assert deleted == {"id": created["id"], "deleted": True}
    assert created["id"] not in {
        s["id"] for s in as_json(shoal_cli(shoal, "source", "list", "--json"))
    }


def test_human_output_shows_the_write_key(shoal: ShoalServer) -> None:
    result = shoal_cli(shoal, "source", "create", "Readable", "--type", "server")
    created = shoal.api("GET", "/sources").json()["sources"][-1]
    assert created["write_key"] in result.stdout and "Created source" in result.stdout


def test_errors_are_one_clear_line_and_exit_1(shoal: ShoalServer) -> None:
    bad = shoal_cli(shoal, "source", "create", "X", "--type", "fax", check=False)
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr
    missing = shoal_cli(shoal, "source", "get", "no such source", check=False)
    assert missing.returncode == 1 and "no source is named" in missing.stderr
    offline = subprocess.run(
        [sys.executable, "-m", "shoal", "source", "list", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env={**os.environ, "SHOAL_TOKEN": "x"},
        timeout=60,
    )
    assert offline.returncode == 1 and "cannot reach" in offline.stderr


def test_login_saves_url_and_token(shoal: ShoalServer, tmp_path: Path) -> None:
    env = {**os.environ, "SHOAL_CONFIG": str(tmp_path / "cli.json")}
    login = subprocess.run(
        [sys.executable, "-m", "shoal", "login", "--url", shoal.url, "--token", shoal.token],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    assert (tmp_path / "cli.json").stat().st_mode & 0o777 == 0o600
    listed = shoal_cli(shoal, "source", "list", "--json", home=tmp_path)
    assert isinstance(as_json(listed), list)


def test_tail_follows_events(shoal: ShoalServer) -> None:
    source = shoal.create_source("tailed")
    auth = (source["write_key"], "")
    httpx.post(shoal.url + "/v1/track", json={"event": "Earlier", "userId": "u"}, auth=auth)
    shoal.wait_for_events(source["id"], 1)
    env = {**os.environ, "SHOAL_URL": shoal.url, "SHOAL_TOKEN": shoal.token}
    tail = subprocess.Popen(
        [sys.executable, "-m", "shoal", "tail", "tailed", "--json", "-n", "1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert tail.stdout is not None
        first = json.loads(tail.stdout.readline())
        httpx.post(shoal.url + "/v1/track", json={"event": "Later", "userId": "u"}, auth=auth)
        second = json.loads(tail.stdout.readline())
    finally:
        tail.kill()
        tail.wait()
    assert (first["event"], second["event"]) == ("Earlier", "Later")


def test_status_reports_the_pipeline(shoal: ShoalServer) -> None:
    status = as_json(shoal_cli(shoal, "status", "--json"))
    assert status["queue"]["lag"] >= 0 and "stored" in status["pipeline"]


@pytest.mark.parametrize("args", [["--help"], ["source", "--help"], ["--version"]])
def test_help_and_version(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shoal", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip()
