"""The audience builder's click editor without a server: values typed into inputs, tree
edits, per-condition problems, the size chart's arithmetic, and the promise that drawing
the editor and posting it back never changes a definition."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import FormData

from shoal.audiences import model
from shoal.audiences.model import ACCOUNTS, USERS
from shoal.audiences.text import parse, to_text
from shoal.web.ui import audiences_values as values
from shoal.web.ui.audiences import diff_lines, size_chart
from shoal.web.ui.audiences_form import EditorState, from_form
from shoal.web.ui.audiences_tree import act, node_errors, overlay
from shoal.web.ui.audiences_values import literal, read, shown, split_list
from shoal.web.ui.render import templates
from tests.audiences.text_strategies import conditions, scalars


class _Inputs(HTMLParser):
    """The name/value pairs a browser would post for a form's inputs and selects."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "input" and "name" in found and found.get("type") not in ("checkbox", "radio"):
            self.pairs.append((found["name"], found.get("value", "")))
        elif tag == "select" and "name" in found:
            self._select, self._options = found["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((found.get("value", ""), "selected" in found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            chosen = [v for v, on in self._options if on] or [self._options[0][0]]
            self.pairs.append((self._select, chosen[0]))
            self._select = None


def _drawn(state: EditorState, collection: str) -> str:
    return templates.env.get_template("audiences/_editor.html").render(
        state=state, collection=collection, node_errors={}, definition_error=None,
        audience_keys=[], v=values, example="",
    )  # fmt: skip


def _posted(page: str, **extra: str) -> FormData:
    reader = _Inputs()
    reader.feed(page)
    return FormData([*reader.pairs, *extra.items()])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([USERS, ACCOUNTS]).flatmap(lambda c: st.tuples(st.just(c), conditions(c))))
def test_drawing_the_editor_and_posting_it_back_keeps_the_definition(
    drawn: tuple[str, model.Condition],
) -> None:
    collection, node = drawn
    state = EditorState.of(model.to_builtins(node))
    again = from_form(_posted(_drawn(state, collection)))
    assert model.from_json(again.tree) == node
    as_text = from_form(_posted(_drawn(state, collection)), "mode:text")
    assert as_text.mode == "text" and as_text.text == to_text(node)
    back = from_form(FormData({"mode": "text", "text": as_text.text}), "mode:click")
    assert back.mode == "click" and model.from_json(back.tree) == node


@given(scalars)
def test_a_value_reads_back_as_it_was_shown(value: Any) -> None:
    assert literal(shown(value)) == value and type(literal(shown(value))) is type(value)


@given(st.lists(scalars | st.just(""), min_size=1, max_size=5))
def test_a_list_reads_back_as_it_was_shown(items: list[Any]) -> None:
    assert [literal(i) for i in split_list(shown(items))] == items


@pytest.mark.parametrize(
    ("op", "raw", "high", "value"),
    [
        ("eq", "pro", "", "pro"),
        ("eq", "3", "", 3),
        ("eq", "'3'", "", "3"),
        ("eq", "true", "", True),
        ("contains", " a ", "", " a "),
        ("gt", "2.5", "", 2.5),
        ("gt", "many", "", "many"),  # kept, so the check can say what is wrong
        ("between", "1", "5", [1, 5]),
        ("in", "a, 'b, c', 3", "", ["a", "b, c", 3]),
        ("within_last", "30", "", 30),
        ("before", "2025-01-31", "", "2025-01-31"),
        ("exists", "ignored", "", None),
    ],
)
def test_typed_values_become_json(op: str, raw: str, high: str, value: Any) -> None:
    assert read(op, raw, high) == value


def _tree(text: str) -> dict[str, Any]:
    return EditorState.of(model.to_builtins(parse(text))).tree


def test_edits_keep_the_tree_well_formed() -> None:
    empty = FormData()
    tree, focus = act(_tree("trait('a') = 1"), "add:r:tag", empty)
    assert to_text(model.from_json(tree)) == "trait('a') = 1 and tag('')" and focus == "r.all.1"
    account, _ = act(_tree("account(trait('plan') = 'pro')"), "remove:r.where", empty)
    assert to_text(model.from_json(account)) == "account(everyone)"
    event, _ = act(_tree("event('X').where(property('p') = 1)"), "remove:r.where", empty)
    assert to_text(model.from_json(event)) == "event('X')"
    negated, _ = act(_tree("not tag('vip')"), "negate:r", empty)
    assert to_text(model.from_json(negated)) == "tag('vip')"
    # A group switched to "any" while its children's fields are posted under the old key.
    switched = overlay(
        _tree("tag('a') and tag('b')"), FormData({"f:r:kind": "any", "f:r.all.1:tag": "c"})
    )
    assert to_text(model.from_json(switched)) == "tag('a') or tag('c')"
    # A measure that changes to a time picks a time operator.
    timed = overlay(_tree("event('X').count() >= 2"), FormData({"f:r:measure": "last"}))
    assert to_text(model.from_json(timed)) == "event('X').last() within last 30 days"


def test_each_condition_says_what_it_lacks() -> None:
    tree = _tree("trait('a') = 1 and event('X').where(property('p') = 1)")
    tree["all"][0]["name"] = ""
    tree["all"][1]["where"]["op"] = "gt"
    tree["all"][1]["where"]["value"] = "x"
    assert node_errors(tree, USERS) == {
        "r.all.0": "a trait or property name must be 1-200 characters",
        "r.all.1": "",
        "r.all.1.where": "'gt' compares with a number, not 'x'",
    }
    assert node_errors(_tree("account(tag('x'))"), ACCOUNTS)["r"] == (
        "account conditions apply to audiences of users"
    )


def test_the_size_chart_steps_through_every_measurement() -> None:
    assert size_chart([], 1000) is None
    sizes = [{"at": 0, "size": 10}, {"at": 500, "size": 20}, {"at": 750, "size": 0}]
    chart = size_chart(sizes, 1000)
    assert chart is not None and chart["top"] == 22  # 10% headroom
    assert chart["line"] == "M 0.0 54.55 H 300.0 V 9.09 H 450.0 V 100.0 H 600"
    assert chart["area"].endswith("V 100 H 0.0 Z")
    single = size_chart([{"at": 5, "size": 0}], 5)
    assert single is not None and single["line"] == "M 0.0 100.0 H 600"


def test_a_diff_is_split_into_kinds() -> None:
    diff = "--- v1\n+++ v2\n@@ -1 +1 @@\n-tag('a')\n+tag('b')"
    assert [k for k, _ in diff_lines(diff)] == ["head", "head", "head", "remove", "add"]
