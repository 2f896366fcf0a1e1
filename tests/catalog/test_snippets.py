"""Code to paste: the right SDKs per source type, filled in, and really working."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shoal.catalog import load_catalog
from shoal.catalog.snippets import event_snippets, example_value
from shoal.plans import PlanEvent, PlanProperty, events_from_use_case
from tests.server import ShoalServer

NODE_MODULES = Path(__file__).resolve().parents[1] / "wire" / "node" / "node_modules"
USE_CASE = load_catalog().use_case("optimize-advertising", "mitigate-cart-abandonment")
CHECKOUT, ORDER = events_from_use_case(USE_CASE)
PAGE = PlanEvent(name="Page Viewed", call="page", properties=[PlanProperty(name="page_name")])
SCREEN = PlanEvent(name="Screen Viewed", call="screen")


def libraries(event: PlanEvent, source_type: str) -> list[str]:
    found = event_snippets(
        event.name,
        event.call,
        event.properties,
        source_type=source_type,
        write_key="k",
        base_url="http://h",
    )
    return [s.library for s in found]


def test_sdks_follow_the_source_type_and_the_call() -> None:
    assert libraries(ORDER, "website") == ["analytics.js", "curl"]
    assert libraries(ORDER, "server") == ["analytics-python", "analytics-node", "curl"]
    assert libraries(ORDER, "mobile") == ["analytics-swift", "analytics-kotlin", "curl"]
    assert libraries(ORDER, "http") == ["curl"]
    assert libraries(PAGE, "mobile") == ["curl"], "the mobile SDKs have no page call"
    assert libraries(SCREEN, "website") == ["curl"], "analytics.js has no screen call"


def test_snippets_carry_write_key_address_and_typed_examples() -> None:
    for snippet in event_snippets(
        ORDER.name,
        ORDER.call,
        ORDER.properties,
        source_type="mobile",
        write_key="WK-123",
        base_url="https://cdp.example.com/",
    ):
        assert "WK-123" in snippet.code
        assert "cdp.example.com" in snippet.code
        assert '"Order Completed"' in snippet.code
        assert "19.99" in snippet.code and "order-123" in snippet.code
        assert "HTTPS only" not in snippet.code


def test_example_values_match_types() -> None:
    assert example_value("order_id", "string") == "order-123"
    assert example_value("revenue", "number") == 19.99
    assert example_value("num_items", None) == 2
    assert example_value("products", "array")[0]["product_id"] == "prod-1"
    assert example_value("email", None) == "ada@example.com"
    assert example_value("placed_at", "date-time").endswith("Z")


def test_curl_quotes_survive_the_shell() -> None:
    event = PlanEvent(name="It's Done", properties=[PlanProperty(name="note", type="string")])
    (curl,) = event_snippets(
        event.name,
        event.call,
        event.properties,
        source_type="http",
        write_key="k",
        base_url="http://h",
    )
    assert "It'\\''s Done" in curl.code


@pytest.fixture(scope="module")
def planned_server_source(shoal: ShoalServer) -> dict[str, Any]:
    source = shoal.create_source("snippets-server", type="server")
    body = {
        "name": "Snippet plan",
        "events": [e.model_dump() for e in (CHECKOUT, ORDER)],
        "source_ids": [source["id"]],
        "unplanned_events": "block",
        "invalid_properties": "block",
    }
    assert shoal.api("POST", "/plans", json=body).status_code == 201
    return source


def snippet(shoal: ShoalServer, source: dict[str, Any], event: str, library: str) -> str:
    plans = shoal.api("GET", "/plans").json()["plans"]
    plan = next(p for p in plans if source["id"] in p["source_ids"])
    out = shoal.api("GET", f"/plans/{plan['id']}/snippets", params={"source_id": source["id"]})
    item = next(i for i in out.json()["events"] if i["event"] == event)
    code: str = next(s["code"] for s in item["snippets"] if s["library"] == library)
    return code


def clean_arrival(shoal: ShoalServer, source: dict[str, Any], count: int) -> None:
    events = shoal.wait_for_events(source["id"], count)
    assert all(e["status"] == "accepted" and e["violations"] == [] for e in events), events


@pytest.mark.sdk
def test_pasted_python_and_curl_snippets_send_events_that_pass_the_plan(
    shoal: ShoalServer, planned_server_source: dict[str, Any]
) -> None:
    before = len(shoal.events(planned_server_source["id"]))
    code = snippet(shoal, planned_server_source, "Order Completed", "analytics-python")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    clean_arrival(shoal, planned_server_source, before + 1)
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    code = snippet(shoal, planned_server_source, "Checkout Started", "curl")
    run = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "success" in run.stdout, run.stderr + run.stdout
    clean_arrival(shoal, planned_server_source, before + 2)


@pytest.mark.sdk
def test_pasted_node_snippet_sends_an_event_that_passes_the_plan(
    shoal: ShoalServer, planned_server_source: dict[str, Any], tmp_path: Path
) -> None:
    if shutil.which("node") is None or not (NODE_MODULES / "@segment" / "analytics-node").is_dir():
        pytest.skip("node or @segment/analytics-node (npm ci --prefix tests/wire/node) missing")
    before = len(shoal.events(planned_server_source["id"]))
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    script = tmp_path / "snippet.mjs"
    script.write_text(snippet(shoal, planned_server_source, "Order Completed", "analytics-node"))
    run = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, timeout=60, env={**os.environ}
    )
    assert run.returncode == 0, run.stderr
    clean_arrival(shoal, planned_server_source, before + 1)
