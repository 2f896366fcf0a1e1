"""``shoal setup``: walk the guided setup from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.destinations import SettingOption, _dest_id, _settings, _source
from shoal.cli.output import console, emit_json, fail

app = typer.Typer(
    help="Guided setup: from a business goal to a verified prod setup.", no_args_is_help=True
)
_MARKS = {"done": "[green]✓[/green]", "todo": "[yellow]→[/yellow]", "blocked": "·"}


def _call(method: str, path: str, body: Any, url: str | None, token: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = client(url, token).call(method, path, body)
    return answer


def _env_line(env: str, entry: dict[str, Any]) -> str:
    if not entry["count"]:
        return f"{env}: not seen"
    text = f"{env}: {entry['count']} seen, last {entry['last_seen']}"
    problems = [f"{m['property']} missing in {m['events']}" for m in entry["missing_properties"]]
    problems += [
        f"{p['property']} not {p['expected']} in {p['events']}" for p in entry["invalid_properties"]
    ]
    if entry["rejected"]:
        problems.append(f"{entry['rejected']} blocked")
    return text + (f" ([red]{'; '.join(problems)}[/red])" if problems else " [green]ok[/green]")


def _size(audience: dict[str, Any]) -> str:
    status = str(audience["status"])
    return status if audience["size"] is None else f"{status}, {audience['size']} member(s)"


def _print_activation(step: dict[str, Any]) -> None:
    """The dev identifiers of the Unify step; the suggested and dev audiences of the Engage
    step; both parts of the republish step."""
    if step["id"] == "unify_identifiers" and step.get("identifiers"):
        listed = ", ".join(
            f"{r['priority']}. {r['type']} (limit {r['limit']}, {r['window']})"
            for r in step["identifiers"]
        )
        console.print(f"     dev identifiers: {listed}")
    if step["id"] == "engage_audience" and step.get("available"):
        suggestion = step.get("suggestion")
        if suggestion and not suggestion["exists"]:
            console.print(
                f"     suggested: {suggestion['name']}: {suggestion['definition']}",
                markup=False,
            )
        for audience in step["audiences"]:
            console.print(
                f"     dev audience {audience['name']} ({audience['key']}): {audience['text']} "
                f"[{_size(audience)}]",
                markup=False,
            )
    if step["id"] == "republish" and "identity_rules" in step:
        console.print(f"     identity rules: {step['identity_rules']['message']}")
    if step["id"] == "republish" and "audiences" in step:
        part = step["audiences"]
        if not part["available"]:
            console.print(f"     audiences: [dim]{part['message']}[/dim]")
        else:
            counts = f"{part['imported']} imported by the setup"
            if part["already_in_prod"]:
                counts += f", {part['already_in_prod']} already in prod (left alone)"
            console.print(f"     audiences: {part['message']} ({counts})")


def _print(state: dict[str, Any]) -> None:
    goal, use_case = state["goal"], state["use_case"]
    title = f"Guided setup: {state['status']}"
    if goal:
        title += f" - {goal['name']}"
    if use_case:
        title += f" / {use_case['name']}" + (" (locked)" if state["use_case_locked"] else "")
    console.print(f"[bold]{title}[/bold]")
    if state["status"] == "not_started":
        console.print(state["eligibility"]["message"])
    for step in state["steps"]:
        mark = _MARKS.get(step["status"], "[dim]x[/dim]")
        line = f" {mark} {step['title']}"
        if step["status"] == "unavailable":
            line += f" [dim](not available: {step['message']})[/dim]"
        console.print(line)
        for source in step.get("sources", []) + step.get("prod_sources", []):
            console.print(
                f"     {source['environment']} source {source['name']} ({source['type']}): "
                f"write key {source['write_key']}"
            )
        for dest in step.get("destinations", []) + step.get("prod_destinations", []):
            console.print(
                f"     {dest['environment']} destination {dest['name']} ({dest['title']}, "
                f"{dest['category']}) {dest['id']}"
            )
        for kind in step.get("recommended", []) if step["id"] == "dev_sources" else []:
            # As the web checklist's chips do: each recommended type, and why one is missing.
            offered = kind["shoal_type"] or f"not available ({kind['message']})"
            console.print(f"     recommended {kind['type']}: {offered}")
        for kind in step.get("recommended", []) if step["id"] == "dev_destinations" else []:
            offered = ", ".join(a["name"] for a in kind["adapters"])
            console.print(f"     recommended {kind['type']}: {offered or kind['message']}")
        _print_activation(step)
    progress = state["progress"]
    if progress["events"] and state["use_case_locked"]:
        console.print("[bold]Suggested events[/bold]")
        for event in progress["events"]:
            console.print(f"  {event['name']} ({event['call']})")
            for env in ("dev", "prod"):
                console.print(f"     {_env_line(env, event[env])}")
        for env, seen in progress["unplanned_events"].items():
            for item in seen:
                console.print(
                    f"  [yellow]unplanned[/yellow] in {env}: {item['name']} x{item['count']}"
                )


def _done(state: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(state)
    else:
        _print(state)


@app.command("status")
def status(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Show the checklist and what really arrived for each suggested event."""
    _done(_call("GET", "/setup", None, url, token), as_json)


@app.command("goal")
def goal(
    goal_id: Annotated[str, typer.Argument(help="e.g. optimize-advertising")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pick the business goal (starts the setup)."""
    _done(_call("POST", "/setup/goal", {"goal_id": goal_id}, url, token), as_json)


@app.command("use-case")
def use_case(
    use_case_id: Annotated[str, typer.Argument(help="e.g. mitigate-cart-abandonment")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pick a use case of the chosen goal."""
    body = {"use_case_id": use_case_id}
    _done(_call("POST", "/setup/use-case", body, url, token), as_json)


@app.command("acknowledge")
def acknowledge(
    url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Confirm you read how dev and prod environments work."""
    _done(_call("POST", "/setup/environments/acknowledge", None, url, token), as_json)


@app.command("review")
def review(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Review the suggested events: locks the use case and creates the tracking plan."""
    _done(_call("POST", "/setup/review-events", None, url, token), as_json)


@app.command("connect-source")
def connect_source(
    name: Annotated[str | None, typer.Argument(help="Name of the new dev source.")] = None,
    type: Annotated[str, typer.Option("--type", help="Website, Mobile, server or http.")] = (
        "Website"
    ),
    source: Annotated[
        str | None, typer.Option("--source", help="Connect this existing dev source instead.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Connect a dev source (a new one of a recommended type, or an existing one)."""
    if (name is None) == (source is None):
        raise fail("give the new source's NAME, or --source for an existing one")
    body = {"source_id": source} if source else {"type": type, "name": name}
    _done(_call("POST", "/setup/dev-sources", body, url, token), as_json)


@app.command("connect-destination")
def connect_destination(
    name: Annotated[str | None, typer.Argument(help="Name of the new dev destination.")] = None,
    type: Annotated[
        str | None,
        typer.Option("--type", help="An adapter (webhook, mixpanel, ...) or a recommended type."),
    ] = None,
    setting: SettingOption = None,
    settings_file: Annotated[Path | None, typer.Option("--settings-file")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Dev source of the setup to connect (repeat); default all."),
    ] = None,
    destination: Annotated[
        str | None,
        typer.Option("--destination", help="Connect this existing dev destination instead."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Connect a dev destination (a new one with its settings, or an existing one) to the
    setup's dev sources. ``--setting KEY=VALUE`` as in ``shoal destination create``."""
    if (name is None) == (destination is None):
        raise fail("give the new destination's NAME and --type, or --destination for one")
    api = client(url, token)
    body: dict[str, Any] = {"source_ids": [_source(api, s) for s in source]} if source else {}
    if destination is not None:
        body["destination_id"] = _dest_id(api, destination)
    elif type is None:
        raise fail("give the new destination's --type (see `shoal setup status`)")
    else:
        body.update(name=name, type=type, settings=_settings(setting, settings_file))
    _done(_call("POST", "/setup/dev-destinations", body, url, token), as_json)


@app.command("publish")
def publish(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Dev source id to publish (repeat).")
    ] = None,
    destination: Annotated[
        list[str] | None,
        typer.Option("--destination", help="Dev destination id to copy to prod (repeat)."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create prod sources and destinations from the dev ones (same configuration, new
    write keys)."""
    body: dict[str, Any] = {"source_ids": source} if source else {}
    if destination:
        body["destination_ids"] = destination
    _done(_call("POST", "/setup/publish", body, url, token), as_json)


@app.command("complete-publish")
def complete_publish(
    url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Mark publishing complete (refused until prod events really arrived)."""
    _done(_call("POST", "/setup/publish/complete", None, url, token), as_json)


@app.command("add-identifiers")
def add_identifiers(
    url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Unify: add the default identifiers (types, limits, priorities) to the dev space."""
    _done(_call("POST", "/setup/unify/default-identifiers", None, url, token), as_json)


@app.command("engage")
def engage(
    name: Annotated[
        str | None, typer.Option("--name", help="The audience's name; default: the suggestion's.")
    ] = None,
    definition: Annotated[
        str | None,
        typer.Option(
            "--definition",
            help="The text form, e.g. \"event('Order Completed').count() >= 2\"; "
            "default: the suggestion's.",
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Engage: create an audience in dev, by default the one suggested for the use case
    (see `shoal setup status`)."""
    body = {k: v for k, v in (("name", name), ("definition", definition)) if v is not None}
    _done(_call("POST", "/setup/engage", body or None, url, token), as_json)


@app.command("republish")
def republish(
    url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Import the dev identity rules and the dev audiences prod lacks into prod."""
    _done(_call("POST", "/setup/republish", None, url, token), as_json)


@app.command("restart")
def restart(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Begin again with another goal or use case (only before reviewing the events)."""
    _done(_call("POST", "/setup/restart", None, url, token), as_json)


@app.command("snippets")
def snippets(
    event: Annotated[str | None, typer.Option("--event", help="Only this event.")] = None,
    library: Annotated[
        str | None, typer.Option("--library", help="analytics.js, analytics-python, curl, ...")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print code to paste for each suggested event and connected source."""
    answer = _call("GET", "/setup/snippets", None, url, token)
    items = [i for i in answer["items"] if event is None or i["event"] == event]
    if as_json:
        emit_json(items)
        return
    if not items:
        raise fail("no snippets yet: review the events and connect a dev source first")
    for item in items:
        for snippet in item["snippets"]:
            if library is not None and snippet["library"] != library:
                continue
            src = item["source"]
            console.rule(
                f"{item['event']} - {src['name']} ({src['environment']}) - {snippet['library']}"
            )
            typer.echo(snippet["code"])
