"""The click editor's state: the condition tree a builder form carries, and its edits.

The form holds the tree as JSON in a hidden ``tree`` field and every visible input as
``f:<path>:<field>``, where a path names a node from the root (``r``) by the JSON keys
leading to it (``r.all.1.where``). Each post rebuilds the tree from both — structure from
the JSON, what was typed from the inputs — then applies the button that was pressed
(``add:<path>``, ``remove:<path>``, ``negate:<path>``, ``group:<path>``; switching to and
from the text form is ``audiences_form.from_form``). The server stays the only place that
knows the tree, so the page needs no script beyond htmx, and without htmx the same posts
re-render the whole page.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from shoal.audiences import model
from shoal.web.ui.audiences_values import (
    EVENT_TYPES,
    PRESETS,
    UNITS,
    Draft,
    expand,
    literal,
    ops_for,
    read,
)

ROOT = "r"
GROUPS = ("all", "any")


def empty() -> Draft:
    """Everyone: the empty ``all`` a new audience starts from."""
    return {"kind": "all", "all": []}


def expand_tree(node: Any) -> Any:
    """Every node of a tree with its defaults written in (see ``audiences_values.expand``)."""
    if isinstance(node, list):
        return [expand_tree(n) for n in node]
    if not isinstance(node, dict):
        return node
    return {k: expand_tree(v) for k, v in expand(node).items()}


def _segments(path: str) -> list[str | int]:
    parts = path.split(".")
    if parts[0] != ROOT:
        raise KeyError(path)
    return [int(p) if p.isdigit() else p for p in parts[1:]]


def get(tree: Draft, path: str) -> Any:
    """The node (or list) at ``path``; ``KeyError``/``IndexError``/``TypeError`` if none."""
    node: Any = tree
    for part in _segments(path):
        node = node[part]
    return node


def put(tree: Draft, path: str, value: Any) -> Draft:
    """The tree with ``value`` at ``path`` (the new root when ``path`` is the root)."""
    parts = _segments(path)
    if not parts:
        return dict(value)
    parent: Any = tree
    for part in parts[:-1]:
        parent = parent[part]
    parent[parts[-1]] = value
    return tree


def _parent(path: str) -> tuple[str, str]:
    head, _, last = path.rpartition(".")
    return head, last


def _compare(node: Draft, fields: dict[str, str], numeric: bool = False) -> None:
    allowed = ops_for(node)
    op = fields.get("op", node.get("op", allowed[0]))
    if op not in allowed:
        op = allowed[0]
    if op != node.get("op") or "value" in fields or "value_hi" in fields:
        raw = fields.get("value", "30" if op == "within_last" else "")
        node["value"] = read(op, raw, fields.get("value_hi", ""), numeric)
    node["op"] = op


def _window(node: Draft, fields: dict[str, str]) -> None:
    if "window" not in fields:
        return
    mode = fields["window"]
    if mode == "last":
        node["window"] = {"last_days": literal(fields.get("last_days", "30"))}
    elif mode == "range":
        since, until = fields.get("since", ""), fields.get("until", "")
        node["window"] = {"since": since or None, "until": until or None}
    else:
        node["window"] = None


def _typed(fields: dict[str, str], field: str, node: Draft, name: str | None = None) -> str:
    """What was typed for ``field``, else what ``node`` holds under ``name``. Kept exactly
    as typed: ``trait('plan ')`` is another trait, and the live count's text shows it."""
    kept = node.get(name or field)
    return fields.get(field, kept if isinstance(kept, str) else "")


def _selector(target: Draft, fields: dict[str, str], prefix: str = "") -> None:
    kind = _typed(fields, prefix + "type", target, "type")
    target["type"] = kind if kind in EVENT_TYPES else "track"
    name = _typed(fields, prefix + "event", target, "event")
    # Only a track event needs its name; page(), identify(), … mean every one without it.
    target["event"] = name if name or target["type"] == "track" else None


def _apply(node: Draft, fields: dict[str, str]) -> None:
    """Write what was typed for one node into it."""
    kind = node.get("kind")
    if kind in GROUPS and fields.get("kind") in GROUPS and fields["kind"] != kind:
        node[fields["kind"]] = node.pop(kind)
        node["kind"] = fields["kind"]
    elif kind in ("trait", "computed", "property"):
        node["name"] = _typed(fields, "name", node)
        _compare(node, fields)
    elif kind == "event":
        _selector(node, fields)
        measure = fields.get("measure", node.get("measure", "count"))
        node["measure"] = (
            measure if measure in model.PROPERTY_MEASURES | model.TIME_MEASURES else "count"
        )
        if node["measure"] in model.PROPERTY_MEASURES:
            node["property"] = _typed(fields, "property", node)
        else:
            node["property"] = None
        _compare(node, fields, numeric=node["measure"] not in model.TIME_MEASURES)
        _window(node, fields)
    elif kind == "sequence":
        _selector(node["first"], fields, "first_")
        _selector(node["then"], fields, "then_")
        node["followed"] = (
            fields.get("followed", "true" if node.get("followed", True) else "false") != "false"
        )
        if "within_n" in fields:
            amount, unit = literal(fields["within_n"]), fields.get("within_unit", "hours")
            ok = isinstance(amount, int) and not isinstance(amount, bool) and unit in UNITS
            node["within_s"] = amount * UNITS[unit] if ok else 0
        _window(node, fields)
    elif kind == "users":
        _compare(node, fields, numeric=True)
    elif kind in ("audience", "list", "tag", "consent"):
        field = "category" if kind == "consent" else str(kind)
        node[field] = _typed(fields, field, node)
    elif kind == "bucket":
        for field in ("start", "end"):
            if field in fields:
                node[field] = literal(fields[field])


def overlay(tree: Draft, form: FormData) -> Draft:
    """The tree with every ``f:<path>:<field>`` input written in (deepest nodes first, so a
    group switched between all and any does not move its children's paths under them)."""
    by_path: dict[str, dict[str, str]] = {}
    for key, value in form.multi_items():
        if key.startswith("f:") and isinstance(value, str) and key.count(":") == 2:
            _, path, field = key.split(":")
            by_path.setdefault(path, {})[field] = value
    for path in sorted(by_path, key=lambda p: p.count("."), reverse=True):
        try:
            node = get(tree, path)
        except (KeyError, IndexError, TypeError):
            continue  # a stale or forged path: nothing there to change
        if isinstance(node, dict):
            _apply(node, by_path[path])
    return tree


def act(tree: Draft, action: str, form: FormData) -> tuple[Draft, str | None]:
    """Apply one button of the editor; returns the tree and the path to focus next."""
    verb, _, rest = action.partition(":")
    path, _, preset = rest.partition(":")
    try:
        node = get(tree, path)
    except (KeyError, IndexError, TypeError):
        return tree, None
    if verb == "add":
        chosen = preset or str(form.get(f"new:{path}") or "")
        if chosen not in PRESETS:
            return tree, None
        new = PRESETS[chosen][1]()
        if node is None:  # an event's empty filter
            return put(tree, path, new), path
        if isinstance(node, dict) and node.get("kind") in GROUPS:
            node[node["kind"]].append(new)
            return tree, f"{path}.{node['kind']}.{len(node[node['kind']]) - 1}"
        return put(tree, path, {"kind": "all", "all": [node, new]}), f"{path}.all.1"
    if verb == "remove":
        return _remove(tree, path), None
    if verb == "negate":
        kept = node["not"] if node.get("kind") == "not" else {"kind": "not", "not": node}
        return put(tree, path, kept), path
    if verb == "group":
        return put(tree, path, {"kind": "any", "any": [node]}), path
    return tree, None


def _remove(tree: Draft, path: str) -> Draft:
    if path == ROOT:
        return empty()
    head, last = _parent(path)
    if last.isdigit():
        get(tree, head).pop(int(last))
        return tree
    if last == "not":
        return _remove(tree, head)  # a "not" of nothing is nothing: remove the "not" too
    if last == "where":
        owner = get(tree, head)
        # An account (or users) condition needs a condition; with none, any account counts.
        return put(tree, path, empty() if owner.get("kind") in ("account", "users") else None)
    return tree


def _probe(node: Draft) -> Draft:
    """A node without its sub-conditions, to check on its own."""
    kind = node.get("kind")
    if kind == "event":
        return {**node, "where": None}
    if kind == "sequence":
        return {**node, **{k: {**node[k], "where": None} for k in ("first", "then")}}
    if kind in ("account", "users"):
        return {**node, "where": empty()}
    if kind == "property":
        return {"kind": "event", "event": "e", "where": node}
    return node


def node_errors(tree: Draft, collection: str) -> dict[str, str]:
    """What is wrong with each condition on its own, by path ('' when nothing is): shown
    next to it, and cleared as soon as it is fixed."""
    found: dict[str, str] = {}

    def visit(node: Any, path: str, context: str) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("kind")
        if kind in GROUPS:
            for i, child in enumerate(node.get(kind) or []):
                visit(child, f"{path}.{kind}.{i}", context)
            return
        if kind == "not":
            visit(node.get("not"), f"{path}.not", context)
            return
        found[path] = ""
        try:
            model.validate(model.from_json(_probe(node)), context)
        except model.DefinitionError as exc:
            found[path] = str(exc)
        if kind == "event":
            visit(node.get("where"), f"{path}.where", context)
        elif kind == "sequence":
            for step in ("first", "then"):
                visit(node[step].get("where"), f"{path}.{step}.where", context)
        elif kind in ("account", "users"):
            sub = model.ACCOUNTS if kind == "account" else model.USERS
            visit(node.get("where"), f"{path}.where", sub)

    visit(tree, ROOT, collection)
    return found
