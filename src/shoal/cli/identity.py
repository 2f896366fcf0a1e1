"""``shoal identity``: identity rules of a space, import dev → prod, re-resolution, traits."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.output import console, emit_json, fail, table
from shoal.wording import counted

app = typer.Typer(help="Identity resolution settings and computed traits.", no_args_is_help=True)
computed = typer.Typer(help="Computed traits (per-profile values).", no_args_is_help=True)
app.add_typer(computed, name="computed")
SpaceOption = Annotated[str, typer.Option("--space", help="dev or prod.")]


def _call(method: str, path: str, body: Any, url: str | None, token: str | None) -> Any:
    return client(url, token).call(method, path, body)


def _rules(settings: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(settings)
        return
    rows = [
        {**r, "blocked": ", ".join(b["value"] for b in r["blocked"]) or "-"}
        for r in settings["identifiers"]
    ]
    saved = "saved" if settings["saved"] else "out of the box"
    title = f"Identity rules of {settings['space']} ({saved})"
    table(rows, ("priority", "type", "collection", "limit", "window", "blocked"), title=title)


@app.command("show")
def show(
    space: SpaceOption = "dev",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The identifier types, limits, priorities and blocked values of a space."""
    _rules(_call("GET", f"/spaces/{space}/identity", None, url, token), as_json)


@app.command("add-defaults")
def add_defaults(
    space: SpaceOption = "dev",
    no_blocks: Annotated[
        bool, typer.Option("--no-suggested-blocks", help="Do not block the suggested values.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add the 11 default identifiers (user_id 1, others 5; user_id, email, then A-Z)."""
    body = {"suggested_blocks": not no_blocks}
    _rules(_call("POST", f"/spaces/{space}/identity/defaults", body, url, token), as_json)


@app.command("add")
def add(
    id_type: Annotated[str, typer.Argument(help="Lower-case identifier type, e.g. crm_id.")],
    space: SpaceOption = "dev",
    limit: Annotated[int, typer.Option("--limit")] = 5,
    window: Annotated[str, typer.Option("--window", help="weekly|monthly|annually|ever")] = "ever",
    trait: Annotated[list[str] | None, typer.Option("--trait", help="Trait key to read.")] = None,
    prop: Annotated[list[str] | None, typer.Option("--property", help="Property key.")] = None,
    block: Annotated[list[str] | None, typer.Option("--block", help="Exact value.")] = None,
    priority: Annotated[int | None, typer.Option("--priority")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add or replace an identifier type."""
    body: dict[str, Any] = {
        "type": id_type,
        "limit": limit,
        "window": window,
        "trait_keys": trait or [],
        "property_keys": prop or [],
        "blocked": [{"kind": "exact", "value": v} for v in block or []],
        "priority": priority,
    }
    _rules(_call("POST", f"/spaces/{space}/identity/identifiers", body, url, token), as_json)


@app.command("remove")
def remove(
    id_type: Annotated[str, typer.Argument()],
    space: SpaceOption = "dev",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop resolving on an identifier type (existing identities stay)."""
    _rules(
        _call("DELETE", f"/spaces/{space}/identity/identifiers/{id_type}", None, url, token),
        as_json,
    )


@app.command("import")
def import_(
    from_space: Annotated[str, typer.Option("--from", help="Copy rules from this space.")] = "dev",
    to_space: Annotated[str, typer.Option("--to", help="Into this space.")] = "prod",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import identity rules from one space into another (dev → prod)."""
    body = {"from_space": from_space}
    _rules(_call("POST", f"/spaces/{to_space}/identity/import", body, url, token), as_json)


@app.command("replay")
def replay(
    space: SpaceOption = "dev",
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            help="Re-resolve only this user profile's history (<id_type>:<value> or a "
            "profile id); repeat for several (at most 100).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-resolve stored events with the current rules: the whole space, or (--profile)
    only some profiles and the profiles that share identifiers with them."""
    if profile:
        question = f"Rebuild {', '.join(profile)} of {space} from their stored events?"
    else:
        question = f"Rebuild every profile of {space} from its stored events?"
    if not yes:
        typer.confirm(question, abort=True)
    body = {"profiles": profile} if profile else None
    api = client(url, token)
    api.timeout = 3600.0  # a replay resolves events as fast as the pipeline: minutes
    result = api.call("POST", f"/spaces/{space}/identity/replay", body)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"Re-resolved {counted(result['events'], 'event')} into "
        f"{counted(result['profiles'], 'profile')} ({counted(result['merges'], 'merge')})."
    )
    for name, found in (result.get("named") or {}).items():
        console.print(f"  {name} -> {found or 'no profile'}")
    removed = [r for r in result.get("removed", []) if r not in result.get("resolved", [])]
    if removed:
        console.print(f"  {len(removed)} profile ids no longer exist: {', '.join(removed[:10])}")


@computed.command("list")
def computed_list(
    space: SpaceOption = "dev",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The space's computed traits."""
    traits = _call("GET", f"/spaces/{space}/computed-traits", None, url, token)["computed_traits"]
    if as_json:
        emit_json(traits)
    else:
        table(traits, ("key", "type", "event", "property", "window_days"))


@computed.command("create")
def computed_create(
    key: Annotated[str, typer.Argument(help="snake_case trait key, e.g. order_count.")],
    kind: Annotated[str, typer.Option("--type", help="event_counter, sum, average, ...")],
    event: Annotated[str, typer.Option("--event", help="Event name, e.g. Order Completed.")],
    prop: Annotated[str | None, typer.Option("--property")] = None,
    window_days: Annotated[int | None, typer.Option("--window-days")] = None,
    collection: Annotated[
        str, typer.Option("--collection", help="users, or accounts (over their users' events)")
    ] = "users",
    filters: Annotated[
        str | None, typer.Option("--filters", help='JSON list: [{"property","operator","value"}]')
    ] = None,
    space: SpaceOption = "dev",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Define a computed trait; existing profiles are computed at once."""
    body: dict[str, Any] = {"key": key, "type": kind, "event": event, "collection": collection}
    if prop:
        body["property"] = prop
    if window_days:
        body["window_days"] = window_days
    if filters:
        try:
            body["filters"] = json.loads(filters)
        except ValueError as exc:
            raise fail(f"--filters is not JSON: {exc}") from None
    trait = _call("POST", f"/spaces/{space}/computed-traits", body, url, token)
    if as_json:
        emit_json(trait)
    else:
        console.print(f"Created computed trait [bold]{trait['key']}[/bold] ({trait['type']}).")


@computed.command("delete")
def computed_delete(
    key: Annotated[str, typer.Argument()],
    space: SpaceOption = "dev",
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove a computed trait and its values."""
    _call("DELETE", f"/spaces/{space}/computed-traits/{key}", None, url, token)
    console.print(f"Deleted computed trait {key}.")
