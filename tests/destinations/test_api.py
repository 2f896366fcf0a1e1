"""The destinations Config API and CLI against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from shoal.destinations.webhook import verify
from tests.destinations.conftest import create_webhook, metrics, send, tracks
from tests.destinations.receiver import Receiver
from tests.server import ShoalServer


def test_secrets_are_encrypted_and_never_returned(server: ShoalServer) -> None:
    source = server.create_source("secrets")
    dest = create_webhook(
        server,
        "secret hook",
        "http://127.0.0.1:9/x",
        source["id"],
        settings={"shared_secret": "topsecret"},
    )
    assert dest["secrets_set"] == ["shared_secret"]
    assert "topsecret" not in json.dumps(dest)
    for path in ("/destinations", f"/destinations/{dest['id']}"):
        assert "topsecret" not in server.api("GET", path).text
    raw = (server.data_dir / "control.db").read_bytes()
    assert b"topsecret" not in raw
    # Patching other settings keeps the secret; null clears it.
    kept = server.api("PATCH", f"/destinations/{dest['id']}", json={"settings": {"method": "PUT"}})
    assert (
        kept.json()["secrets_set"] == ["shared_secret"]
        and kept.json()["settings"]["method"] == "PUT"
    )
    cleared = server.api(
        "PATCH", f"/destinations/{dest['id']}", json={"settings": {"shared_secret": None}}
    )
    assert cleared.json()["secrets_set"] == []


def test_bad_input_gets_clear_4xx(server: ShoalServer) -> None:
    source = server.create_source("bad input")
    cases = [
        ({"name": "x", "type": "nope"}, 422, "no destinations backend named 'nope'"),
        ({"name": "x", "type": "webhook", "settings": {}}, 422, "url"),
        ({"name": "x", "type": "webhook", "settings": {"url": "http://10.0.0.8/"}}, 422, "private"),
        (
            {
                "name": "x",
                "type": "webhook",
                "settings": {"url": "http://example.com/", "bogus": 1},
            },
            422,
            "bogus",
        ),
        (
            {
                "name": "x",
                "type": "webhook",
                "settings": {"url": "http://example.com/"},
                "mappings": [{"name": "m", "action": "fly"}],
            },
            422,
            "no action 'fly'",
        ),
        (
            {
                "name": "x",
                "type": "webhook",
                "settings": {"url": "http://example.com/"},
                "source_ids": ["src_missing"],
            },
            404,
            "src_missing",
        ),
    ]
    for body, status, text in cases:
        response = server.api("POST", "/destinations", json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) >= {"code", "message"} and text in response.text
    prod = server.create_source("prod one", environment="prod")
    dest = create_webhook(server, "env hook", "http://example.com/", source["id"])
    mismatch = server.api(
        "POST", f"/destinations/{dest['id']}/sources", json={"source_id": prod["id"]}
    )
    assert mismatch.status_code == 422 and "same environment" in mismatch.json()["message"]
    assert server.api("GET", "/destinations/dst_missing").status_code == 404
    duplicate = server.api(
        "POST",
        "/destinations",
        json={"name": "env hook", "type": "webhook", "settings": {"url": "http://example.com/"}},
    )
    assert duplicate.status_code == 409


def test_webhook_request_is_signed_json(server: ShoalServer) -> None:
    with Receiver() as receiver:
        source = server.create_source("signed")
        create_webhook(
            server,
            "signed hook",
            receiver.url + "/hooks/shoal",
            source["id"],
            settings={"shared_secret": "k3y", "headers": {"X-Team": "growth"}, "batch": False},
        )
        send(server, source["write_key"], tracks("sig", 3))
        receiver.wait_for(3)
    for request in receiver.accepted():
        assert request.method == "POST" and request.path == "/hooks/shoal"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Team"] == "growth"
        assert verify("k3y", request.headers["X-Shoal-Signature"], request.body)
        assert not verify("wrong", request.headers["X-Shoal-Signature"], request.body)
        assert request.json()["type"] == "track"  # single mode: the message itself


def test_filters_mappings_disable_and_test_endpoint(server: ShoalServer) -> None:
    with Receiver() as receiver:
        source = server.create_source("mapped")
        dest = create_webhook(
            server,
            "mapped hook",
            receiver.url,
            source["id"],
            filters=[
                {
                    "title": "big orders only",
                    "if": {"conditions": [{"field": "properties.total", "op": "lt", "value": 15}]},
                    "actions": [{"type": "drop"}],
                }
            ],
            mappings=[
                {
                    "name": "orders",
                    "action": "send",
                    "fields": {
                        "id": {"@path": "$.messageId"},
                        "sum": {"@path": "$.properties.total"},
                    },
                }
            ],
        )
        send(server, source["write_key"], tracks("map", 10))
        messages = receiver.wait_for(5)
        time.sleep(0.5)
        assert sorted(m["id"] for m in receiver.messages()) == [f"map-{i}" for i in range(5, 10)]
        assert all(set(m) == {"id", "sum"} for m in messages)
        assert metrics(server, dest["id"])["filtered"] == 5
        tested = server.api("POST", f"/destinations/{dest['id']}/test", json={})
        assert tested.status_code == 200 and tested.json()["ok"], tested.text
        assert tested.json()["results"][0]["response"] == '{"ok": true}'
        off = server.api("POST", f"/destinations/{dest['id']}/disable")
        assert off.json()["enabled"] is False
        send(server, source["write_key"], tracks("off", 5))
        time.sleep(1)
        assert len(receiver.messages()) == 6  # 5 + the test event
        assert server.api("POST", f"/destinations/{dest['id']}/enable").json()["enabled"]
        send(server, source["write_key"], tracks("on", 20))
        receiver.wait_for(6 + 15)


def test_cli_create_status_and_dead_letters(server: ShoalServer) -> None:
    env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_TOKEN": server.token, "COLUMNS": "200"}

    def shoal(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shoal", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    with Receiver() as receiver:
        source = server.create_source("cli source")
        created = shoal(
            "destination", "create", "cli hook", "--type", "webhook",
            "--setting", f"url={receiver.url}", "--setting", "batch_size=10",
            "--source", "cli source", "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        dest = json.loads(created.stdout)
        assert dest["settings"]["batch_size"] == 10
        send(server, source["write_key"], tracks("cli", 25))
        receiver.wait_for(25)
        status = shoal("destination", "status", "cli hook", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)[0]["delivered"] == 25
        human = shoal("destination", "status")
        assert "cli hook" in human.stdout and "25" in human.stdout
        tested = shoal("destination", "test", dest["id"])
        assert tested.returncode == 0 and "send: ok status=200" in tested.stdout
        letters = shoal("destination", "dead-letters", dest["id"])
        assert letters.returncode == 0 and "0 dead letter(s)" in letters.stdout
        bad = shoal(
            "destination",
            "create",
            "bad",
            "--type",
            "webhook",
            "--setting",
            "url=ftp://example.com/",
        )
        assert bad.returncode == 1 and "http(s)" in bad.stderr
