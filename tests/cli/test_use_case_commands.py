"""``shoal usecases``, ``shoal setup``, ``shoal plan`` and ``shoal member`` on a real server."""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from shoal.cli.main import app
from tests.server import ShoalServer


def cli(server: ShoalServer, *args: str, token: str | None = None, code: int = 0) -> Result:
    """Run ``shoal ARGS`` in-process (the commands call the server over HTTP as usual)."""
    env = {"SHOAL_URL": server.url, "SHOAL_TOKEN": token or server.token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.stderr + result.stdout
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_usecases_list_and_show(shoal: ShoalServer) -> None:
    goals = as_json(cli(shoal, "usecases", "list", "--json"))
    assert [len(g["use_cases"]) for g in goals] == [7, 6, 6, 6]
    assert "Mitigate cart abandonment" in cli(shoal, "usecases", "list").stdout
    ambiguous = cli(shoal, "usecases", "show", "mitigate-cart-abandonment", code=1)
    assert "--goal" in ambiguous.stderr
    shown = cli(
        shoal, "usecases", "show", "mitigate-cart-abandonment", "--goal", "optimize-advertising"
    )
    assert "Checkout Started" in shown.stdout and "Reverse ETL" in shown.stdout
    one = as_json(cli(shoal, "usecases", "show", "suppress-with-purchase", "--json"))
    assert one["goal"]["id"] == "optimize-advertising"


def test_setup_plan_and_member_commands(shoal: ShoalServer) -> None:
    cli(shoal, "setup", "goal", "optimize-advertising")
    cli(shoal, "setup", "use-case", "mitigate-cart-abandonment")
    cli(shoal, "setup", "acknowledge")
    state = as_json(cli(shoal, "setup", "review", "--json"))
    assert state["use_case_locked"]
    state = as_json(cli(shoal, "setup", "connect-source", "Web", "--type", "Website", "--json"))
    web = state["steps"][4]["sources"][0]
    status = cli(shoal, "setup", "status").stdout
    assert "Checkout Started" in status and "not available" in status and web["write_key"] in status
    curl = cli(shoal, "setup", "snippets", "--library", "curl", "--event", "Order Completed").stdout
    assert "curl " in curl and web["write_key"] in curl

    vague = cli(shoal, "setup", "connect-destination", "Hook", code=1)
    assert "--type" in vague.stderr
    reverse = cli(shoal, "setup", "connect-destination", "W", "--type", "Reverse ETL", code=1)
    assert "no Reverse ETL" in reverse.stderr
    args = ["--type", "webhook", "--setting", "url=https://hooks.example.com/shoal"]
    secret = ["--setting", "shared_secret=s3cret", "--setting", "batch_size=50"]
    state = as_json(cli(shoal, "setup", "connect-destination", "Hook", *args, *secret, "--json"))
    (hook,) = state["steps"][5]["destinations"]
    assert hook["settings"]["batch_size"] == 50 and hook["secrets_set"] == ["shared_secret"]
    assert hook["source_ids"] == [web["id"]]
    status = cli(shoal, "setup", "status").stdout
    assert "dev destination Hook (Webhook, Raw Data)" in status
    assert "recommended Analytics: mixpanel" in status

    plan_id = state["plan_id"]
    listed = as_json(cli(shoal, "plan", "list", "--json"))
    assert [p["id"] for p in listed] == [plan_id]
    assert "num_items" in cli(shoal, "plan", "show", listed[0]["name"]).stdout
    edited = as_json(
        cli(
            shoal,
            "plan",
            "edit",
            plan_id,
            "--invalid",
            "block",
            "--property",
            "Order Completed:gift_wrap=boolean?",
            "--remove-property",
            "Order Completed:tax",
            "--add-event",
            "Coupon Entered",
            "--json",
        )
    )
    assert edited["invalid_properties"] == "block"
    order = next(e for e in edited["events"] if e["name"] == "Order Completed")
    props = {p["name"]: p for p in order["properties"]}
    assert "tax" not in props and props["gift_wrap"] == {
        "name": "gift_wrap",
        "type": "boolean",
        "required": False,
        "description": "",
    }
    assert "Coupon Entered" in {e["name"] for e in edited["events"]}
    assert '"$schema"' in cli(shoal, "plan", "show", plan_id, "--schema").stdout
    bad = cli(shoal, "plan", "edit", plan_id, "--unplanned", "drop", code=1)
    assert "unplanned_events" in bad.stderr
    assert as_json(cli(shoal, "plan", "violations", plan_id, "--json")) == []

    early = cli(shoal, "setup", "add-identifiers", code=1)
    assert "mark it complete" in early.stderr
    assert "mark it complete" in cli(shoal, "setup", "republish", code=1).stderr

    member = as_json(cli(shoal, "member", "add", "ana@example.com", "--json"))
    for command in ("publish", "add-identifiers", "republish"):
        refused = cli(shoal, "setup", command, token=member["token"], code=1)
        assert "owner" in refused.stderr
    assert "ana@example.com" in cli(shoal, "member", "list").stdout
