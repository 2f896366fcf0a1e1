"""``shoal identity replay --profile``: re-resolve some profiles from the command line."""

from __future__ import annotations

import time

import httpx

from tests.cli.test_commands import as_json, shoal_cli
from tests.inprocess import basic
from tests.server import ShoalServer

BASE = "/spaces/dev/collections/users/profiles"


def _profile(shoal: ShoalServer, ref: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = shoal.api("GET", f"{BASE}/{ref}/metadata")
        if found.status_code == 200:
            return str(found.json()["metadata"]["id"])
        time.sleep(0.1)
    raise AssertionError(f"{ref} never resolved")


def test_replay_one_profile_from_the_cli(shoal: ShoalServer) -> None:
    src = shoal.create_source("cli replay", type="server")
    batch = [
        {"type": "identify", "anonymousId": "cli-web", "traits": {"crm": "K-1"}},
        {"type": "identify", "anonymousId": "cli-app", "traits": {"crm": "K-1"}},
    ]
    sent = httpx.post(
        shoal.url + "/v1/batch", json={"batch": batch}, headers=basic(src["write_key"])
    )
    assert sent.status_code == 200
    web, app = _profile(shoal, "anonymous_id:cli-web"), _profile(shoal, "anonymous_id:cli-app")
    assert web != app
    shoal_cli(shoal, "identity", "add", "crm_id", "--trait", "crm", "--limit", "1")

    args = ["identity", "replay", "--space", "dev", "--profile", "anonymous_id:cli-web"]
    result = as_json(shoal_cli(shoal, *args, "-y", "--json"))
    assert result["named"] == {"anonymous_id:cli-web": web} and result["events"] == 2
    assert _profile(shoal, "anonymous_id:cli-app") == web
    human = shoal_cli(shoal, "identity", "replay", "--profile", web, "-y")
    assert "Re-resolved 2 events into 1 profile (0 merges)" in human.stdout and web in human.stdout


def test_replay_refusals_are_one_line(shoal: ShoalServer) -> None:
    bad = shoal_cli(shoal, "identity", "replay", "--profile", "no-colon", "-y", check=False)
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr
    assert "<id_type>:<value>" in bad.stderr
    missing = shoal_cli(
        shoal, "identity", "replay", "--profile", "user_id:nobody", "-y", check=False
    )
    assert missing.returncode == 1 and "user_id:nobody" in missing.stderr
