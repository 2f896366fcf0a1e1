"""Audience activation on a real server: a Meta Custom Audience kept in step with an
audience through outages, a crash, refusals and replays, each change arriving once.
The fake Graph API (``meta_graph``) checks every request as Meta documents it and keeps the
rows it accepted, so each add and remove can be counted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from tests.cli.test_commands import as_json, shoal_cli
from tests.destinations.conftest import DESTINATION_ENV, send
from tests.destinations.meta_graph import BUSY, LIST, TOKEN, Graph, row
from tests.destinations.receiver import Receiver
from tests.server import ShoalServer


def identify(server: ShoalServer, key: str, user: int, plan: str) -> None:
    traits = {"email": f" User{user}@Example.com ", "phone": f"+1 (555) 010-{user:04d}",
              "plan": plan}  # fmt: skip
    send(server, key, [{"type": "identify", "userId": f"u{user}", "traits": traits}])


def wait(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll until ``check`` returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def members(server: ShoalServer, audience: dict[str, Any], users: Iterable[int]) -> None:
    """Wait until the audience's members are exactly ``users``."""

    def check() -> bool:
        page = server.api("GET", f"/audiences/{audience['id']}/members?limit=1000").json()
        return {m["identifiers"].get("user_id") for m in page["members"]} == {
            f"u{i}" for i in users
        }

    wait(check, f"the members to be {sorted(users)}")


def status(server: ShoalServer, audience: dict[str, Any]) -> dict[str, Any]:
    response = server.api("GET", f"/audiences/{audience['id']}/destinations")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["destinations"][0]
    return found


def synced(server: ShoalServer, audience: dict[str, Any], users: Iterable[int]) -> dict[str, Any]:
    """Wait until the audience holds ``users`` and every change was handled (nothing can be
    sent after that)."""
    members(server, audience, users)
    return wait(  # type: ignore[no-any-return]
        lambda: (s := status(server, audience))["pending_changes"] == 0 and s["syncing"] and s,
        "the list sync to catch up",
    )


def created(server: ShoalServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.api("POST", path, json=body)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def meta(server: ShoalServer, url: str, environment: str = "dev") -> dict[str, Any]:
    settings = {"pixel_id": "1234", "access_token": TOKEN, "base_url": url}
    return created(server, "/destinations", {
        "name": f"Meta {environment} {time.monotonic_ns()}", "type": "meta_conversions",
        "environment": environment, "settings": settings})  # fmt: skip


def pro_audience(server: ShoalServer, name: str) -> dict[str, Any]:
    return created(server, "/audiences", {"name": name, "definition": "trait('plan') = 'pro'"})


@pytest.fixture
def graph() -> Iterator[tuple[Graph, Receiver]]:
    fake = Graph()
    with Receiver(fake) as receiver:
        yield fake, receiver
    assert fake.problems == []


def test_list_follows_the_audience_once_through_outage_crash_and_refusal(
    server: ShoalServer, graph: tuple[Graph, Receiver]
) -> None:
    fake, receiver = graph
    key = server.create_source("activation")["write_key"]
    audience = pro_audience(server, "Pro plan")
    for user in range(5):
        identify(server, key, user, "pro")
    # u5 enters and exits before the connection: the first sync must not add them.
    identify(server, key, 5, "pro")
    members(server, audience, range(6))
    identify(server, key, 5, "free")
    members(server, audience, range(5))

    destination = meta(server, receiver.url)
    connected = as_json(shoal_cli(server, "audience", "connect", audience["key"],
                                  destination["id"], "--list-id", LIST, "--json"))  # fmt: skip
    assert connected["list_id"] == LIST and connected["pending_changes"] == 7
    first = synced(server, audience, range(5))
    assert fake.count("POST") == Counter(row(i) for i in range(5))
    assert fake.count("DELETE") == Counter() and (first["added"], first["removed"]) == (5, 0)

    # An outage: every request fails with 503 until Meta is back; nothing is lost.
    fake.failing = {"POST": BUSY, "DELETE": BUSY}
    identify(server, key, 0, "free")
    identify(server, key, 6, "pro")
    identify(server, key, 7, "pro")
    wait(lambda: sum(fake.failures.values()) >= 3, "retries during the outage")
    assert "HTTP 503" in (status(server, audience)["last_error"] or "")
    fake.failing = {}
    synced(server, audience, (1, 2, 3, 4, 6, 7))
    assert fake.count("POST") == Counter(row(i) for i in (0, 1, 2, 3, 4, 6, 7))
    assert fake.count("DELETE") == Counter([row(0)])

    # A crash in the middle of a window. While u8's add is retried, u9 enters and u1
    # exits: the next window holds both. Its add is accepted, its remove keeps failing.
    fake.failures.clear()
    fake.failing = {"POST": BUSY}
    identify(server, key, 8, "pro")
    wait(lambda: fake.failures["POST"] >= 2, "u8's add to be retried")
    identify(server, key, 9, "pro")
    identify(server, key, 1, "free")
    members(server, audience, (2, 3, 4, 6, 7, 8, 9))
    fake.failures.clear()
    fake.failing = {"DELETE": BUSY}
    wait(lambda: fake.count("POST")[row(9)] and fake.failures["DELETE"] >= 3, "a failing remove")
    server.kill()
    fake.failing = {}
    server.start()
    after = synced(server, audience, (2, 3, 4, 6, 7, 8, 9))
    assert fake.count("POST") == Counter(row(i) for i in (0, 1, 2, 3, 4, 6, 7, 8, 9))
    assert fake.count("DELETE") == Counter([row(0), row(1)])
    assert (after["added"], after["removed"]) == (9, 2)

    # A refusal is dead-lettered at once and the list goes on; a replay sends it later.
    fake.failing = {"POST": (400, {"error": {"message": "Invalid parameter", "code": 100}})}
    identify(server, key, 10, "pro")
    wait(lambda: status(server, audience)["dead_letters"] == 1, "a dead letter")
    identify(server, key, 2, "free")
    synced(server, audience, (3, 4, 6, 7, 8, 9, 10))
    assert fake.count("DELETE") == Counter([row(0), row(1), row(2)])
    letters = server.api("GET", f"/audiences/{audience['id']}/destinations/"
                         f"{destination['id']}/dead-letters").json()["dead_letters"]  # fmt: skip
    assert [(d["operation"], d["status"], d["profiles"]) for d in letters] == [("add", 400, 1)]
    fake.failing = {}
    replayed = shoal_cli(server, "audience", "replay", audience["key"], destination["id"])
    assert "Replaying 1" in replayed.stdout
    wait(lambda: status(server, audience)["dead_letters"] == 0, "the replay")
    assert fake.count("POST") == Counter(row(i) for i in (0, 1, 2, 3, 4, 6, 7, 8, 9, 10))

    listed = as_json(shoal_cli(server, "audience", "connections", audience["key"], "--json"))
    assert [c["destination_id"] for c in listed] == [destination["id"]]
    shoal_cli(server, "audience", "disconnect", audience["key"], destination["id"])
    assert server.api("GET", f"/audiences/{audience['id']}/destinations").json() == {
        "destinations": []
    }


def test_a_batch_past_the_retry_window_is_dead_lettered_and_the_list_goes_on(
    tmp_path_factory: pytest.TempPathFactory, graph: tuple[Graph, Receiver]
) -> None:
    fake, receiver = graph
    env = {**DESTINATION_ENV, "SHOAL_DESTINATIONS_RETRY_WINDOW_SECONDS": "1"}
    server = ShoalServer(tmp_path_factory.mktemp("window") / "data", env=env).start()
    try:
        key = server.create_source("window")["write_key"]
        audience = pro_audience(server, "Pro window")
        destination = meta(server, receiver.url)
        body = {"destination_id": destination["id"], "list_id": LIST}
        path = f"/audiences/{audience['id']}/destinations"
        assert server.api("POST", path, json=body).status_code == 201
        fake.failing = {"POST": BUSY}
        identify(server, key, 1, "pro")
        wait(lambda: status(server, audience)["dead_letters"] == 1, "the window to pass")
        fake.failing = {}
        identify(server, key, 2, "pro")
        synced(server, audience, (1, 2))
        assert fake.count("POST") == Counter([row(2)])
        letter = server.api("GET", f"{path}/{destination['id']}/dead-letters").json()
        assert letter["dead_letters"][0]["reason"].startswith("retry window passed; last: HTTP 503")
    finally:
        server.stop()


def test_refusals_are_json_4xx(server: ShoalServer, graph: tuple[Graph, Receiver]) -> None:
    _fake, receiver = graph
    audience = pro_audience(server, "Refusals")
    path = f"/audiences/{audience['id']}/destinations"
    hook = created(server, "/destinations", {
        "name": "Hook", "type": "webhook", "settings": {"url": receiver.url}})  # fmt: skip
    accounts = created(server, "/audiences", {
        "name": "Accounts", "collection": "accounts", "definition": "everyone"})  # fmt: skip
    dev, prod = meta(server, receiver.url), meta(server, receiver.url, "prod")

    def refused(method: str, url: str, status: int, words: str, **kwargs: Any) -> None:
        response = server.api(method, url, **kwargs)
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) >= {"code", "message"} and words in body["message"], body

    refused("POST", path, 422, "does not sync lists",
            json={"destination_id": hook["id"], "list_id": LIST})  # fmt: skip
    refused("POST", path, 422, "same environment",
            json={"destination_id": prod["id"], "list_id": LIST})  # fmt: skip
    refused("POST", f"/audiences/{accounts['id']}/destinations", 422, "audience of users",
            json={"destination_id": dev["id"], "list_id": LIST})  # fmt: skip
    refused("POST", "/audiences/aud_missing/destinations", 404, "not found",
            json={"destination_id": dev["id"], "list_id": LIST})  # fmt: skip
    refused("POST", path, 404, "does not exist", json={"destination_id": "dst_x", "list_id": "1"})
    refused("POST", path, 422, "list_id", json={"destination_id": dev["id"], "list_id": "a/b"})
    refused("POST", path, 422, "list_id", json={"destination_id": dev["id"]})
    refused(
        "POST", path, 422, "", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert server.api("POST", path, json={"destination_id": dev["id"], "list_id": LIST}).is_success
    refused("POST", path, 409, "already connected",
            json={"destination_id": dev["id"], "list_id": "7000"})  # fmt: skip
    refused("POST", f"{path}/{dev['id']}/replay", 422, "no dead letters")
    refused("DELETE", f"{path}/{prod['id']}", 404, "not connected")
    refused("GET", f"{path}/{prod['id']}/dead-letters", 404, "not connected")
    cli = shoal_cli(server, "audience", "connect", audience["key"], hook["id"],
                    "--list-id", LIST, check=False)  # fmt: skip
    assert cli.returncode == 1 and "does not sync lists" in cli.stderr
    # Deleting the destination ends its connections.
    assert server.api("DELETE", f"/destinations/{dev['id']}").status_code == 204
    assert server.api("GET", path).json() == {"destinations": []}
    # So does deleting the audience.
    again = {"destination_id": meta(server, receiver.url)["id"], "list_id": LIST}
    assert server.api("POST", path, json=again).status_code == 201
    assert server.api("DELETE", f"/audiences/{audience['id']}").status_code == 204
    refused("GET", path, 404, "not found")
