"""``shoal usecases list|show``: the business goals and their use cases."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, fail, table

app = typer.Typer(help="Business goals and their use cases.", no_args_is_help=True)


def _goals(url: str | None, token: str | None) -> list[dict[str, Any]]:
    goals: list[dict[str, Any]] = client(url, token).call("GET", "/catalog/business-goals")
    return goals


@app.command("list")
def list_(
    goal: Annotated[str | None, typer.Option("--goal", help="Only this goal (its id).")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the business goals and their use cases."""
    goals = [g for g in _goals(url, token) if goal is None or g["id"] == goal]
    if goal is not None and not goals:
        raise fail(f"no business goal has the id {goal!r}; run `shoal usecases list`")
    if as_json:
        emit_json(goals)
        return
    for g in goals:
        rows = [{"use case": u["id"], "name": u["name"]} for u in g["use_cases"]]
        table(rows, ("use case", "name"), title=f"{g['name']} ({g['id']})")


@app.command("show")
def show(
    use_case: Annotated[str, typer.Argument(help="Use case id, e.g. mitigate-cart-abandonment.")],
    goal: Annotated[
        str | None,
        typer.Option("--goal", help="Goal id; needed when several goals offer the use case."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a use case: its description, suggested events, sources and destinations."""
    matches = [
        (g, u)
        for g in _goals(url, token)
        for u in g["use_cases"]
        if u["id"] == use_case and (goal is None or g["id"] == goal)
    ]
    if not matches:
        raise fail(f"no use case {use_case!r}{f' under goal {goal!r}' if goal else ''}")
    if len(matches) > 1:
        goals = ", ".join(g["id"] for g, _ in matches)
        raise fail(f"several goals offer {use_case!r} ({goals}); choose one with --goal")
    g, u = matches[0]
    if as_json:
        emit_json({"goal": {"id": g["id"], "name": g["name"]}, **u})
        return
    console.print(f"[bold]{u['name']}[/bold] ({g['name']})")
    console.print(u["description"])
    rows = [
        {"event": e["name"], "call": e["call"], "properties": ", ".join(e["properties"]) or "-"}
        for e in u["events"]
    ]
    table(rows, ("event", "call", "properties"), title="Suggested events")
    console.print(f"Sources: {', '.join(u['sources'])}")
    console.print(f"Destinations: {', '.join(u['destinations'])}")
