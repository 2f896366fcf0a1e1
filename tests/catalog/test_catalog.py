"""Check the bundled catalog, entry for entry, against the seed documents it reproduces.

The seeds are parsed here at test time: 000 is Segment's "Choosing a use case" (goals,
considerations, goal-specific use-case descriptions), 001 is the "Use Cases Reference"
(per goal and use case: events with properties, source types, destination types).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shoal.catalog import (
    DESTINATION_TYPES,
    SOURCE_TYPES,
    Catalog,
    CatalogLookupError,
    load_catalog,
    parse_catalog,
    slugify,
)

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
NBSP = "\xa0"
# Cell values of the reference's two-column "Sources Destinations" tables. The tables are
# space-separated, so a row is split by finding the one split whose halves are both known names.
TABLE_CELLS = {"Website", "Mobile", "Reverse ETL", "Advertising", "Analytics"} | {
    "Personalization",
    "Email Marketing",
    "SMS & Push Notifications",
}


@dataclass
class SeedUseCase:
    name: str
    description: str = ""
    events: dict[str, list[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)


@dataclass
class SeedGoal:
    name: str
    description: str = ""
    considerations: list[str] = field(default_factory=list)
    use_cases: dict[str, SeedUseCase] = field(default_factory=dict)  # keyed by slug


@dataclass
class Seeds:
    declared_total: int
    goals: list[SeedGoal]
    overview: dict[str, list[str]]  # 001's "Use Cases by business goal" table


def _seed_text(prefix: str) -> list[str]:
    if not SEEDS.is_dir():
        pytest.fail(f"seed folder {SEEDS} is missing; the catalog tests need /work/shared/seeds")
    matches = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not matches:
        pytest.fail(f"no seed file {prefix}_*.txt in {SEEDS}")
    return matches[0].read_text(encoding="utf-8").splitlines()


def _section(lines: list[str], start: str, stop: str) -> list[str]:
    begin = lines.index(start) + 1
    return lines[begin : lines.index(stop, begin)]


def _paragraphs(lines: list[str]) -> str:
    return " ".join(line.strip() for line in lines if line.strip()).replace("**", "")


def _parse_choosing(lines: list[str]) -> tuple[int, list[SeedGoal]]:
    intro = next(line for line in lines if line.startswith("Segment supports "))
    match = re.match(r"Segment supports (\d+) use cases", intro)
    assert match, intro
    start = lines.index(intro) + 1
    names = []
    for line in lines[start:]:
        if line.startswith("- "):
            names.append(line[2:].strip())
        elif names:
            break
    goals = []
    for i, name in enumerate(names):
        stop = f"## {names[i + 1]}" if i + 1 < len(names) else "## Next steps"
        body = _section(lines, f"## {name}", stop)
        goal = SeedGoal(name=name)
        goal.description = _paragraphs(body[: body.index("Key considerations for this goal:")])
        goal.considerations = [
            line.removeprefix("- ").strip()
            for line in _section(
                body, "Key considerations for this goal:", "Use cases in this category include:"
            )
            if line.strip()
        ]
        for row in body[body.index("USE CASE\tDESCRIPTION") + 1 :]:
            if "\t" in row:
                uc_name, description = row.split("\t")
                goal.use_cases[slugify(uc_name)] = SeedUseCase(uc_name, description.strip())
        goals.append(goal)
    return int(match.group(1)), goals


EVENT_ROW = re.compile(r"(?P<event>.+?)(?:\s+(?P<props>[a-z]\w*(?:,\s*[a-z]\w*)*))?\s*")


def _parse_event_row(row: str) -> tuple[str, list[str]]:
    # "<Event Name> <prop>, <prop>, ..." where names may hold lower-case words ("Added to Cart")
    # and an event without properties ends in the NBSP of an empty cell.
    match = EVENT_ROW.fullmatch(row)
    assert match, f"cannot parse event row {row!r}"
    props = match["props"] or ""
    return match["event"].strip(), [p.strip() for p in props.split(",") if p.strip()]


def _parse_type_row(row: str) -> tuple[str | None, str | None]:
    text = row.strip(" ")
    if text.startswith(NBSP) or text.endswith(NBSP):
        cell = text.strip()
        assert cell in TABLE_CELLS, f"unknown table cell {cell!r}"
        return (None, cell) if text.startswith(NBSP) else (cell, None)
    words = text.split()
    splits = [
        (" ".join(words[:i]), " ".join(words[i:]))
        for i in range(1, len(words))
        if " ".join(words[:i]) in TABLE_CELLS and " ".join(words[i:]) in TABLE_CELLS
    ]
    assert len(splits) == 1, f"cannot split sources/destinations row {row!r}: {splits}"
    return splits[0]


def _parse_reference(lines: list[str], goals: list[SeedGoal]) -> dict[str, list[str]]:
    by_name = {g.name: g for g in goals}
    overview: dict[str, list[str]] = {}
    current: list[str] = []
    for row in _section(lines, "Business Goal Use Cases", ""):
        goal_name = next((n for n in by_name if row.startswith(n + " ")), None)
        if goal_name:
            current = overview.setdefault(goal_name, [])
            row = row[len(goal_name) + 1 :]
        current.append(row.strip())
    goal: SeedGoal | None = None
    use_case: SeedUseCase | None = None
    mode = ""
    body = lines[lines.index("Suggested events, sources, and destinations") + 1 :]
    for row in body:
        if row in by_name:
            goal, use_case, mode = by_name[row], None, ""
        elif goal and slugify(row) in goal.use_cases and row.strip():
            use_case, mode = goal.use_cases[slugify(row)], ""
        elif row in ("Events Properties", "Event Properties", "Sources Destinations"):
            mode = "events" if row.startswith("Event") else "types"
        elif not row.strip():
            mode = ""
        elif mode and use_case is not None:
            if mode == "events":
                event, props = _parse_event_row(row)
                use_case.events[event] = props
            else:
                source, destination = _parse_type_row(row)
                use_case.sources += [source] if source else []
                use_case.destinations += [destination] if destination else []
    return overview


@pytest.fixture(scope="module")
def seeds() -> Seeds:
    total, goals = _parse_choosing(_seed_text("000"))
    overview = _parse_reference(_seed_text("001"), goals)
    return Seeds(total, goals, overview)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_goals_match_seed(seeds: Seeds, catalog: Catalog) -> None:
    assert [g.name for g in catalog.goals] == [g.name for g in seeds.goals]
    for seed_goal, goal in zip(seeds.goals, catalog.goals, strict=True):
        assert goal.id == slugify(seed_goal.name)
        assert goal.description == seed_goal.description
        assert list(goal.considerations) == seed_goal.considerations


def test_counts(seeds: Seeds, catalog: Catalog) -> None:
    assert [len(g.use_cases) for g in catalog.goals] == [7, 6, 6, 6]
    assert len(catalog.entries()) == seeds.declared_total == 25
    distinct = {slugify(uc.name) for g in seeds.goals for uc in g.use_cases.values()}
    # The seeds name 16 distinct use cases; "Build high-value lookalikes" (Optimize advertising)
    # and "Build high value lookalikes" (Boost retention) are one use case spelled two ways.
    assert len(catalog.distinct_use_cases()) == len(distinct) == 16


def test_use_cases_match_seed_entry_for_entry(seeds: Seeds, catalog: Catalog) -> None:
    for seed_goal in seeds.goals:
        goal = catalog.goal(slugify(seed_goal.name))
        assert [u.name for u in goal.use_cases] == seeds.overview[seed_goal.name]
        assert [u.id for u in goal.use_cases] == list(seed_goal.use_cases)
        for uc_id, seed_uc in seed_goal.use_cases.items():
            uc = catalog.use_case(goal.id, uc_id)
            where = f"{goal.id}/{uc_id}"
            assert uc.name == seed_uc.name, where
            assert uc.description == seed_uc.description, where
            assert {e.name: [p.name for p in e.properties] for e in uc.events} == seed_uc.events, (
                where
            )
            assert [e.name for e in uc.events] == list(seed_uc.events), where
            assert list(uc.sources) == seed_uc.sources, where
            assert list(uc.destinations) == seed_uc.destinations, where


def test_recommendations_differ_between_goals(catalog: Catalog) -> None:
    ads = catalog.use_case("optimize-advertising", "mitigate-cart-abandonment")
    first = catalog.use_case("personalize-first-conversion", "mitigate-cart-abandonment")
    assert ads.destinations == ("Reverse ETL", "Analytics", "Advertising")
    assert "Advertising" not in first.destinations and "Email Marketing" in first.destinations


def test_vocabulary_is_what_the_seeds_use(seeds: Seeds) -> None:
    use_cases = [uc for g in seeds.goals for uc in g.use_cases.values()]
    assert {s for uc in use_cases for s in uc.sources} == set(SOURCE_TYPES)
    assert {d for uc in use_cases for d in uc.destinations} == set(DESTINATION_TYPES)


def test_spec_mapping(catalog: Catalog) -> None:
    events = {e.name: e for _, uc in catalog.entries() for e in uc.events}
    added = events["Product Added to Cart"]
    assert added.spec_event == "Product Added" and added.call == "track"
    assert {p.name: p.spec_name for p in added.properties}["product_price"] == "price"
    assert events["Page Viewed"].call == "page" and events["Screen Viewed"].call == "screen"
    calls = {
        name: e.call for name, e in events.items() if name not in ("Page Viewed", "Screen Viewed")
    }
    assert set(calls.values()) == {"track"}
    order = {p.name: p.type for p in events["Order Completed"].properties}
    assert order["total"] == "number" and order["order_id"] == "string"
    assert order["products"] == "array" and order["num_items"] is None
    opened = {p.name: p.type for p in events["Application Opened"].properties}
    assert opened["from_background"] == "boolean"


def test_same_event_has_same_mapping_everywhere(catalog: Catalog) -> None:
    seen: dict[str, Any] = {}
    for _, uc in catalog.entries():
        for event in uc.events:
            assert seen.setdefault(event.name, event) == event, event.name


def test_lookup_errors(catalog: Catalog) -> None:
    with pytest.raises(CatalogLookupError, match="unknown business goal 'nope'"):
        catalog.goal("nope")
    with pytest.raises(KeyError) as info:
        catalog.use_case("optimize-advertising", "personalize-winback")
    assert "has no use case 'personalize-winback'" in str(info.value)
    uc = catalog.use_case("optimize-advertising", "suppress-with-purchase")
    assert uc.event("Page Viewed").call == "page"
    with pytest.raises(CatalogLookupError, match="no event 'Signed Up'"):
        uc.event("Signed Up")


def test_loader_is_cached_and_reads_package_data() -> None:
    assert load_catalog() is load_catalog()
    raw = (resources.files("shoal.catalog") / "data" / "business_goals.json").read_text("utf-8")
    assert parse_catalog(raw) == load_catalog()


UC = "goals.0.use_cases.0"


def _mutate(data: Any, path: str, value: object) -> None:
    """Edit the catalog JSON at a dotted path: ``+`` appends, ``None`` duplicates item 0."""
    *parents, last = path.split(".")
    for part in parents:
        data = data[int(part)] if part.isdigit() else data[part]
    if last == "+":
        data.append(value)
    elif value is None:
        data[last].append(copy.deepcopy(data[last][0]))
    else:
        data[int(last) if last.isdigit() else last] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("goals.0.use_cases", None, "duplicate use case ids: build-high-value-lookalikes"),
        ("goals", None, "duplicate goal ids: optimize-advertising"),
        (f"{UC}.events", None, "duplicate events: Order Completed"),
        (f"{UC}.events.0.properties", None, "duplicate properties: num_items"),
        (f"{UC}.sources.+", "Carrier Pigeon", "unknown sources type(s) ['Carrier Pigeon']"),
        (f"{UC}.destinations.+", "Website", "unknown destinations type(s) ['Website']"),
        (f"{UC}.events.0.name", "  ", "at least 1 character"),
        (f"{UC}.id", "lookalikes", "id 'lookalikes' must be the slug of its name"),
        (f"{UC}.events.0.properties.1.type", "str", "Input should be 'string', 'number'"),
        (f"{UC}.events.0.call", "identify", "Input should be 'track', 'page' or 'screen'"),
        (f"{UC}.events", [], "suggests no events"),
    ],
)
def test_validation_errors(path: str, value: object, message: str) -> None:
    raw = (resources.files("shoal.catalog") / "data" / "business_goals.json").read_text("utf-8")
    data = json.loads(raw)
    _mutate(data, path, value)
    with pytest.raises(ValidationError) as info:
        parse_catalog(json.dumps(data))
    assert message in str(info.value)


def test_catalog_is_immutable(catalog: Catalog) -> None:
    with pytest.raises(ValidationError):
        catalog.goals[0].name = "changed"  # type: ignore[misc]
