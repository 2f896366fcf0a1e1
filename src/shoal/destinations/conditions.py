"""The condition tree shared by destination filters (``if``) and mapping triggers.

A **condition** tests one field: ``type``, ``event`` or any dot path such as
``properties.plan`` (a ``.`` or ``\\`` inside a name is escaped with ``\\``), optionally
through a function first (``length``, ``lowercase``, ...). A **group** joins nodes with
``all`` or ``any``; a **not** negates one node. Groups nest, so every FQL statement
(``shoal.destinations.fql``) has a tree and every tree whose values are FQL values has a
text. Trees are kept in one canonical form (see :func:`normalize`), so text → tree →
text → tree gives the same tree.

A missing field is null, as in FQL: it fails a test instead of raising an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from shoal.destinations.functions import Fn, apply_function, glob_literal, glob_match, text_of
from shoal.destinations.paths import join_path, lookup, missing, split_path

Op = Literal[
    "is",
    "is_not",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "match",
    "exists",
    "not_exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "includes",
]
MAX_GROUP = 20
MAX_DEPTH = 12
_INVERSE = {
    "is": "is_not",
    "contains": "not_contains",
    "exists": "not_exists",
    "in": "not_in",
}
_INVERSE.update({v: k for k, v in list(_INVERSE.items())})
_TEXT_OPS = ("contains", "not_contains", "starts_with", "ends_with", "match")


def same(left: Any, right: Any) -> bool:
    """FQL's ``=``: the same type and equal (``true`` is not ``1``; ``1`` is ``1.0``)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Condition(BaseModel):
    """One test on one field (optionally through a function)."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, description="type, event, or a dot path: properties.plan")
    op: Op = "is"
    value: Any = None
    fn: Fn | None = Field(
        default=None,
        description="A function applied to the field first: length, lowercase, ...",
        exclude_if=lambda fn: fn is None,  # stored trees stay as they were without one
    )

    @model_validator(mode="after")
    def _canonical(self) -> Condition:
        if any(not name for name in split_path(self.field)):
            raise ValueError(f"field {self.field!r} has an empty name; write a.b, not a..b")
        self.field = join_path(split_path(self.field))  # drops a "$." prefix
        if self.op in ("exists", "not_exists"):
            self.value = None
        elif self.op in ("is", "is_not") and self.value is None:
            # A missing field is null, so "is null" is "does not exist" (FQL's reading).
            self.op = "not_exists" if self.op == "is" else "exists"
        elif self.op in _TEXT_OPS:
            if self.value is None or isinstance(self.value, dict | list):
                raise ValueError(f"{self.op} needs a text value")
            self.value = text_of(self.value)
            self._plain_match()
        elif self.op in ("gt", "gte", "lt", "lte") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float | str)
        ):
            raise ValueError(f"{self.op} compares with a number")
        elif self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f'{self.op} needs a list value, e.g. ["a", "b"]')
        elif self.op == "includes" and isinstance(self.value, dict | list):
            raise ValueError("includes needs a single value (the list is the field)")
        return self

    def _plain_match(self) -> None:
        # One spelling per test keeps trees canonical: a glob that is only a prefix or a
        # suffix is starts_with or ends_with, and ends_with "" is starts_with "".
        if self.op == "match":
            pattern = str(self.value)
            escapes = len(pattern[:-1]) - len(pattern[:-1].rstrip("\\"))
            if pattern.endswith("*") and escapes % 2 == 0:
                prefix = glob_literal(pattern[:-1])
                if prefix is not None:
                    self.op, self.value = "starts_with", prefix
                    return
            if pattern.startswith("*"):
                suffix = glob_literal(pattern[1:])
                if suffix is not None:
                    self.op, self.value = "ends_with", suffix
        if self.op == "ends_with" and self.value == "":
            self.op = "starts_with"

    def test(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` passes this condition (missing fields are null)."""
        found = lookup(message, self.field)
        if self.fn is not None:
            found = apply_function(self.fn, None if missing(found) else found)
        if missing(found):
            found = None
        op = self.op
        if op in ("exists", "not_exists"):
            return (found is not None) is (op == "exists")
        if op in ("is", "is_not"):
            return (found is not None and same(found, self.value)) is (op == "is")
        if op in ("in", "not_in"):
            inside = found is not None and any(same(found, v) for v in self.value)
            return inside is (op == "in")
        if op == "includes":
            return isinstance(found, list) and any(same(item, self.value) for item in found)
        if found is None:
            return op == "not_contains"
        if op in _TEXT_OPS:
            text, needle = text_of(found), str(self.value)
            if op == "match":
                return glob_match(text, needle)
            return {
                "contains": needle in text,
                "not_contains": needle not in text,
                "starts_with": text.startswith(needle),
                "ends_with": text.endswith(needle),
            }[op]
        left, right = _number(found), _number(self.value)
        if left is None or right is None:
            return False
        return {"gt": left > right, "gte": left >= right, "lt": left < right}.get(op, left <= right)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "not" if "not" in value else "condition" if "field" in value else "group"
    if isinstance(value, Condition):
        return "condition"
    return "not" if isinstance(value, Not) else "group"


Node = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated["Not", Tag("not")]
    | Annotated["Trigger", Tag("group")],
    Discriminator(_kind),
]


class Not(BaseModel):
    """``{"not": node}``: true when ``node`` is false."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    not_: Node = Field(alias="not")

    def test(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` fails the inner node."""
        return not self.not_.test(message)


class Trigger(BaseModel):
    """Nodes joined by ``all`` or ``any``; no nodes matches every message.

    Also accepts FQL text where a trigger is expected: ``"type = 'track'"``.
    """

    model_config = ConfigDict(extra="forbid")

    match: Literal["all", "any"] = "all"
    conditions: list[Node] = Field(default_factory=list, max_length=MAX_GROUP)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            from shoal.destinations.fql import parse  # the parser builds these models

            # A dict, not the model: what a before-validator returns is validated as input.
            return parse(data).model_dump(by_alias=True)
        return data

    @model_validator(mode="after")
    def _canonical(self) -> Trigger:
        children = [normalize(child) for child in self.conditions]
        for child in children:
            if isinstance(child, Trigger) and not child.conditions:
                raise ValueError("a nested group needs at least one condition")
        if len(children) == 1 and isinstance(children[0], Trigger):
            # A group holding only a group is that group.
            self.match, children = children[0].match, children[0].conditions
        self.conditions = children
        if len(children) <= 1:
            self.match = "all"  # one node or none: all and any are the same test
        if depth(self) > MAX_DEPTH:
            raise ValueError(f"conditions nest at most {MAX_DEPTH} levels deep")
        return self

    def test(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` triggers."""
        if not self.conditions:
            return True
        results = (c.test(message) for c in self.conditions)
        return all(results) if self.match == "all" else any(results)


AnyNode = Condition | Not | Trigger


def normalize(node: AnyNode) -> AnyNode:
    """The canonical form of a nested node: a one-node group is that node; ``not`` of
    ``not`` cancels; ``not`` of an invertible condition is the inverse condition."""
    if isinstance(node, Trigger) and len(node.conditions) == 1:
        return normalize(node.conditions[0])
    if isinstance(node, Not):
        inner = normalize(node.not_)
        if isinstance(inner, Not):
            return inner.not_
        if isinstance(inner, Condition) and inner.op in _INVERSE:
            return inner.model_copy(update={"op": _INVERSE[inner.op]})
        return node if inner is node.not_ else Not(**{"not": inner})
    return node


def depth(node: AnyNode) -> int:
    """How many levels of groups and negations ``node`` has."""
    if isinstance(node, Condition):
        return 0
    if isinstance(node, Not):
        return 1 + depth(node.not_)
    return 1 + max((depth(c) for c in node.conditions), default=0)


Not.model_rebuild()
Trigger.model_rebuild()
