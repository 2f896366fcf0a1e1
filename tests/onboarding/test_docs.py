"""The ``$ shoal`` examples of docs/use-cases.md and docs/tracking-plans.md run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shoal.cli.main import app
from tests.server import ShoalServer

DOCS = Path(__file__).resolve().parents[2] / "docs"


def commands(name: str) -> list[list[str]]:
    """The ``$ shoal ...`` lines of a doc's ``sh`` blocks, split like a shell would."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", (DOCS / name).read_text(), re.S):
        found += [
            shlex.split(line[2:])[1:] for line in block.splitlines() if line.startswith("$ shoal ")
        ]
    return found


def test_docs_have_examples() -> None:
    assert len(commands("use-cases.md")) >= 10
    assert len(commands("tracking-plans.md")) >= 5


@pytest.mark.sdk
def test_doc_examples_run_in_order(shoal: ShoalServer) -> None:
    runner = CliRunner()
    env = {"SHOAL_URL": shoal.url, "SHOAL_TOKEN": shoal.token, "COLUMNS": "200"}
    for args in commands("use-cases.md") + commands("tracking-plans.md"):
        if args == ["setup", "complete-publish"]:
            # What the doc asks of the reader first: send events with the prod write key.
            prod = shoal.api("GET", "/sources", params={"environment": "prod"}).json()["sources"][0]
            body = {"userId": "u1", "event": "Order Completed", "properties": {}}
            response = httpx.post(shoal.url + "/v1/track", json=body, auth=(prod["write_key"], ""))
            assert response.status_code == 200
            shoal.wait_for_events(prod["id"], 1)
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, f"shoal {shlex.join(args)}: {result.stderr}{result.stdout}"
    assert shoal.api("GET", "/setup").json()["status"] == "complete"
    dev = shoal.api("GET", "/spaces/dev/identity").json()
    prod = shoal.api("GET", "/spaces/prod/identity").json()
    assert dev["saved"] and prod["identifiers"] == dev["identifiers"], "republished to prod"
    audiences = shoal.api("GET", "/audiences").json()["audiences"]
    assert sorted((a["space"], a["key"]) for a in audiences) == [
        ("dev", "abandoned_checkouts"),
        ("dev", "repeat_buyers"),
        ("prod", "abandoned_checkouts"),
        ("prod", "repeat_buyers"),
    ], "the suggested and the typed audience, created in dev and imported into prod"
    status = runner.invoke(app, ["setup", "status"], env=env).stdout
    assert "dev identifiers: 1. user_id (limit 1, ever), 2. email (limit 5, ever)" in status
    assert "Prod has the same identity rules as dev." in status
    assert "dev audience Repeat buyers (repeat_buyers): event('Order Completed').count() >= 2" in (
        status
    )
    assert "audiences: Prod has every dev audience. (2 imported by the setup)" in status
