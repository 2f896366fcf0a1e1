"""The delivery dashboard in-process: counts over time, dead letters and replaying them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shoal.web.ui.delivery_history import RANGES, Bucket, DeliveryHistory, Sample, bars, buckets
from tests.destinations.receiver import Received, Receiver, Reply
from tests.inprocess import App, basic
from tests.web.ui.pages import (
    Signed,
    alerts,
    notices,
    text,
    ui_app,
    unbatched_webhook,
    wait_until,
)

HOUR = 3600.0
NOW = 1_700_000_000.0


def test_buckets_count_what_moved_within_each_bucket() -> None:
    samples = [
        Sample(NOW - 70 * 60, 10, 0, 0),  # before the range: the starting level
        Sample(NOW - 37 * 60, 15, 1, 3),
        Sample(NOW - 36 * 60, 15, 1, 0),
        Sample(NOW - 3 * 60, 20, 1, 0),
    ]
    drawn = buckets(samples, Sample(NOW, 26, 3, 2), "1h", created_at=NOW - 30 * 86400)
    assert len(drawn) == RANGES["1h"][0] and all(b.end - b.start == 300 for b in drawn)
    assert sum(b.delivered for b in drawn) == 16 and sum(b.failed for b in drawn) == 3
    # Buckets are five minutes from an hour ago: 37 minutes ago is bucket 4.
    assert [b.delivered for b in drawn] == [0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 11]
    assert [b.failed for b in drawn] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2]
    assert drawn[4].retrying == 3 and drawn[-1].retrying == 2 and drawn[5].retrying == 0


def test_a_new_destination_starts_from_zero_and_counters_never_go_back() -> None:
    created = NOW - HOUR / 2
    fresh = buckets([Sample(NOW - 60, 7, 0, 0)], Sample(NOW, 7, 0, 0), "1h", created)
    assert sum(b.delivered for b in fresh) == 7  # counted from creation, not from the sample
    # A worker that has not loaded its counters yet reads zero: no negative bars.
    restarted = buckets([Sample(NOW - 60, 7, 2, 0)], Sample(NOW, 0, 0, 0), "24h", 0.0)
    assert all(b.delivered >= 0 and b.failed >= 0 for b in restarted)


def test_bars_scale_to_a_round_top_and_always_show_small_counts() -> None:
    chart = [Bucket(0, 1, 0, 0, 0, "a"), Bucket(1, 2, 70, 1, 4, "b")]
    drawn, top = bars(chart)
    assert top == 100
    assert drawn[0].delivered_h == 0 and drawn[0].failed_h == 0
    assert drawn[1].delivered_h == 70 and drawn[1].delivered_y == 30
    assert drawn[1].failed_h == 1.5 and drawn[1].failed_y == 30 - 1.5
    assert drawn[1].retrying_h == 4 and drawn[1].x == 11
    assert bars([Bucket(0, 1, 0, 0, 0, "a")])[1] == 1


class Switch:
    """A vendor that refuses (400) until told to accept."""

    def __init__(self) -> None:
        self.accepting = False

    def __call__(self, request: Received) -> Reply:
        del request
        return (200, {"ok": True}) if self.accepting else (400, {"error": "unknown field"})


@pytest.fixture(scope="module")
def vendor() -> Iterator[tuple[Receiver, Switch]]:
    switch = Switch()
    with Receiver(switch) as running:
        yield running, switch


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ui_app(tmp_path_factory.mktemp("deliveries")) as running:
        yield running


def _dead_letters(app: App, destination_id: str) -> dict[str, Any]:
    path = f"/api/v1/destinations/{destination_id}/dead-letters"
    found: dict[str, Any] = app.client.get(path, headers=app.auth).json()
    return found


def test_dead_letters_are_listed_charted_and_replayed(
    app: App, vendor: tuple[Receiver, Switch]
) -> None:
    receiver, switch = vendor
    page = Signed(app.client)
    source = app.source("orders")
    body = unbatched_webhook("Strict vendor", receiver.url + "/in", source["id"])
    created = app.client.post("/api/v1/destinations", json=body, headers=app.auth)
    destination_id = created.json()["id"]
    batch = [
        {"type": "track", "userId": f"u{i}", "event": "Order Completed", "messageId": f"m-{i}"}
        for i in range(3)
    ]
    answer = app.client.post("/v1/batch", json={"batch": batch}, headers=basic(source["write_key"]))
    assert answer.is_success
    wait_until(lambda: _dead_letters(app, destination_id)["total"] == 3)

    dashboard = page.get("/deliveries")
    shown = text(dashboard.text)
    assert "Strict vendor" in shown and "Failed 3" in shown and "Replay 3 dead letters" in shown
    assert "3 failed in the last 1h" in dashboard.text  # the chart's accessible summary
    own = page.get(f"/destinations/{destination_id}/deliveries?range=24h")
    assert own.text.count('name="dead_letter_id"') == 3
    assert "HTTP 400" in own.text and "unknown field" in own.text

    # Replay one chosen dead letter, then the rest, once the vendor accepts.
    switch.accepting = True
    first = _dead_letters(app, destination_id)["dead_letters"][0]
    one = page.post(
        f"/destinations/{destination_id}/replay",
        {"dead_letter_id": first["id"], "back": "/deliveries"},
    )
    assert one.url.path == "/deliveries"
    assert "Replaying 1 event to 'Strict vendor'." in notices(one)
    assert "Replay 2 dead letters" in text(one.text)
    rest = page.post(f"/destinations/{destination_id}/replay")
    assert "Replaying 2 events" in " ".join(notices(rest))
    arrived = wait_until(lambda: len(receiver.messages()) >= 3 and receiver.messages())
    assert {m["messageId"] for m in arrived} == {"m-0", "m-1", "m-2"}
    # Both replay jobs are listed, and finish.
    wait_until(
        lambda: (
            text(page.get(f"/destinations/{destination_id}/deliveries").text).count(" done ") == 2
        )
    )
    again = page.post(f"/destinations/{destination_id}/replay")
    assert "There are no dead letters to replay" in " ".join(alerts(again))
    final = page.get(f"/destinations/{destination_id}/deliveries")
    assert "Replay 0 dead letters" in text(final.text) and ">waiting<" not in final.text


def test_ranges_and_pages_are_checked(app: App) -> None:
    page = Signed(app.client)
    odd = page.get("/deliveries?range=forever")
    assert odd.status_code == 200 and "Unknown range 'forever'" in " ".join(alerts(odd))
    for name in RANGES:
        assert page.get(f"/deliveries?range={name}").status_code == 200
    assert "No prod destinations to watch" in page.get("/deliveries?env=prod").text
    page.get("/deliveries?env=dev")


def test_the_sampler_records_counters_only_when_they_move(app: App) -> None:
    history: DeliveryHistory = app.client.app.api.state.ui_delivery_history  # type: ignore[attr-defined]
    body = {"name": "Quiet", "type": "webhook", "settings": {"url": "https://example.com/q"}}
    created = app.client.post("/api/v1/destinations", json=body, headers=app.auth).json()
    history.sample()
    history.sample()
    (first,) = history.samples(created["id"], 0)
    assert (first.delivered, first.failed, first.retrying) == (0, 0, 0)
    app.client.delete(f"/api/v1/destinations/{created['id']}", headers=app.auth)
    assert history.samples(created["id"], 0) == []  # deleted with the destination
