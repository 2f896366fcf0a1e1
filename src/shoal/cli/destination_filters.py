"""``shoal destination filter ...`` (list, add, remove) and ``shoal destination fql``.

Filters are written in FQL, Segment's filter language: ``--if`` applies the action to the
events that match; ``--only`` keeps just the matching events (a drop filter on the
negation, as Segment's "Only send" is).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from shoal.cli.context import JsonOption, TokenOption, UrlOption, client
from shoal.cli.destination_base import DestArg, dest_id, show
from shoal.cli.output import console, emit_json, errors, fail, table
from shoal.destinations.fql import FQLError, parse, to_fql

app = typer.Typer(help="Destination filters, written in FQL.", no_args_is_help=True)
FqlArg = Annotated[str, typer.Argument(help='An FQL statement, e.g. type = "track".')]


class Kind(StrEnum):
    """What a filter does to the events it matches."""

    drop = "drop"
    sample = "sample"
    drop_properties = "drop_properties"
    allow_properties = "allow_properties"


def _checked(text: str, option: str) -> str:
    """Parse locally first, so a typo is shown with a caret before anything is sent."""
    try:
        return to_fql(parse(text))
    except FQLError as exc:
        errors.print(exc.pointer(), markup=False, highlight=False)
        raise fail(f"{option}: {exc}") from None


def _fields(names: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in names or []:
        obj, sep, field = name.partition(".")
        if not sep or obj not in ("properties", "traits", "context") or not field:
            raise fail(f"--field {name!r}: write properties.NAME, traits.NAME or context.NAME")
        out.setdefault(obj, []).append(field)
    return out


def _filters(api: Any, ref: str) -> tuple[str, list[dict[str, Any]]]:
    found = dest_id(api, ref)
    filters = api.call("GET", f"/destinations/{found}")["filters"]
    # The API shows both forms; send back the FQL only (it is the same tree).
    return found, [
        {k: v for k, v in f.items() if k != "if" or f.get("fql") is None} for f in filters
    ]


@app.command("list")
def list_(
    dest: DestArg, url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """A destination's filters, each with its condition in FQL."""
    api = client(url, token)
    filters = api.call("GET", f"/destinations/{dest_id(api, dest)}")["filters"]
    if as_json:
        emit_json(filters)
        return
    rows = [
        {
            "title": f["title"],
            "enabled": f.get("enabled", True),
            "actions": ", ".join(a["type"] for a in f["actions"]),
            "if": f.get("fql") or json.dumps(f["if"]),
        }
        for f in filters
    ]
    table(rows, ("title", "enabled", "actions", "if"))


@app.command("add")
def add(
    dest: DestArg,
    title: Annotated[str, typer.Option("--title", help="A name for the filter.")],
    when: Annotated[str | None, typer.Option("--if", help="FQL: act on matching events.")] = None,
    only: Annotated[
        str | None, typer.Option("--only", help="FQL: keep only matching events (drop the rest).")
    ] = None,
    kind: Annotated[Kind, typer.Option("--action", help="What to do with them.")] = Kind.drop,
    percent: Annotated[
        float | None, typer.Option("--percent", help="sample: the share kept, 0..1.")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="drop/allow_properties: properties.NAME; repeatable."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a filter: `--only 'type = "track"'`, or `--if FQL --action sample --percent 0.1`."""
    if (when is None) == (only is None):
        raise fail("give one of --if and --only")
    if only is not None:
        if kind is not Kind.drop:
            raise fail("--only drops the events that do not match; it takes no --action")
        statement = f"!({_checked(only, '--only')})"
    else:
        statement = _checked(str(when), "--if")
    action: dict[str, Any] = {"type": kind.value}
    if percent is not None:
        action["percent"] = percent
    if field:
        action["fields"] = _fields(field)
    api = client(url, token)
    found, filters = _filters(api, dest)
    filters.append({"title": title, "fql": statement, "actions": [action]})
    show(api.call("PATCH", f"/destinations/{found}", {"filters": filters}), as_json, "Updated")


@app.command("remove")
def remove(
    dest: DestArg,
    title: Annotated[str, typer.Argument(help="The filter's title.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove the filter with this title."""
    api = client(url, token)
    found, filters = _filters(api, dest)
    kept = [f for f in filters if f["title"] != title]
    if len(kept) == len(filters):
        raise fail(f"destination {found} has no filter titled {title!r}")
    show(api.call("PATCH", f"/destinations/{found}", {"filters": kept}), as_json, "Updated")


def fql(statement: FqlArg, as_json: JsonOption = False) -> None:
    """Check an FQL statement here (no server): print its tree and its canonical text."""
    try:
        tree = parse(statement)
    except FQLError as exc:
        errors.print(exc.pointer(), markup=False, highlight=False)
        raise fail(str(exc)) from None
    data = {"fql": to_fql(tree), "if": tree.model_dump(mode="json", by_alias=True)}
    if as_json:
        emit_json(data)
        return
    console.print(data["fql"], markup=False, highlight=False)
    console.print_json(json.dumps(data["if"]))
