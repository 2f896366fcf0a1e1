"""The README's curl examples give the answers it shows, against a real server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.server import ShoalServer

README = Path(__file__).resolve().parents[1] / "README.md"


def examples() -> list[tuple[str, str]]:
    """``(command, expected answer)`` pairs from the README's ``$ curl`` blocks."""
    text = README.read_text()
    pairs = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if lines[i].startswith("$ curl"):
                command = lines[i][2:]
                while command.endswith("\\"):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                i += 1
                pairs.append((command, lines[i]))
            i += 1
    return pairs


def matches(expected: str, actual: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, actual, re.S) is not None


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples(tmp_path: Path) -> None:
    pairs = examples()
    assert len(pairs) >= 6, "the README lost its curl examples"
    server = ShoalServer(tmp_path / "data", env={"SHOAL_ADMIN_TOKEN": "secret"})
    server.token = "secret"
    server.start()
    try:
        found: dict[str, str] = {}
        for command, expected in pairs:
            command = command.replace("http://127.0.0.1:8088", server.url)
            for placeholder, value in found.items():
                command = command.replace(placeholder, value)
            if "/events" in command:
                server.wait_for_events(found["SOURCE_ID"], 2)
            result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
            actual = result.stdout.strip()
            assert matches(expected, actual), f"{command}\nexpected: {expected}\nactual:   {actual}"
            if "write_key" in actual and not found:
                created = json.loads(actual)
                found = {"WRITE_KEY": created["write_key"], "SOURCE_ID": created["id"]}
            time.sleep(0.05)
    finally:
        server.stop()
