"""The audience suggested for each use case is built from the catalog's events for it."""

from __future__ import annotations

import re

import pytest

from shoal.audiences.service import parse_definition
from shoal.catalog import SuggestedEvent, UseCase, load_catalog
from shoal.onboarding.suggestions import (
    RECIPES,
    Recipe,
    RecipeError,
    from_recipe,
    reference,
    suggest,
)

ENTRIES = [(g.id, u) for g in load_catalog().goals for u in g.use_cases]


@pytest.mark.parametrize(("goal", "use_case"), ENTRIES, ids=[f"{g}/{u.id}" for g, u in ENTRIES])
def test_every_use_case_has_a_recipe_over_its_own_events(goal: str, use_case: UseCase) -> None:
    recipe = RECIPES[use_case.id]
    suggestion = from_recipe(recipe, use_case)  # raises if the recipe names another event
    assert suggest(use_case) == suggestion
    named = set(re.findall(r"\{([^{}]+)\}", recipe.template))
    assert set(suggestion.events) == named <= {e.name for e in use_case.events}
    _tree, text = parse_definition(suggestion.definition, "users")
    assert text == suggestion.definition, "the suggestion is written in the canonical form"
    assert "{" not in suggestion.definition
    assert suggestion.key == re.sub(r"[^a-z0-9]+", "_", suggestion.name.lower()).strip("_")


def test_no_recipe_for_a_use_case_the_catalog_lacks() -> None:
    assert set(RECIPES) == {u.id for _g, u in ENTRIES}


def test_events_are_written_as_the_catalog_calls_them() -> None:
    assert reference(SuggestedEvent(name="Page Viewed", call="page")) == "page()"
    assert reference(SuggestedEvent(name="Screen Viewed", call="screen")) == "screen()"
    assert reference(SuggestedEvent(name="Order Completed")) == "event('Order Completed')"
    quoted = reference(SuggestedEvent(name="Kid's Order"))
    assert parse_definition(quoted, "users")[1] == quoted


def _use_case(use_case_id: str, *events: SuggestedEvent) -> UseCase:
    return UseCase(
        id=use_case_id,
        name=use_case_id.replace("-", " ").capitalize(),
        description="A use case added to the catalog later.",
        events=events,
        sources=("Website",),
        destinations=("Analytics",),
    )


def test_a_use_case_without_recipe_gets_its_key_event_in_the_last_30_days() -> None:
    added = _use_case(
        "grow-referrals",
        SuggestedEvent(name="Page Viewed", call="page"),
        SuggestedEvent(name="Referral Sent"),
    )
    suggestion = suggest(added)
    assert suggestion.name == "Performed Referral Sent in the last 30 days"
    assert suggestion.definition == "event('Referral Sent').within(30 days)"
    assert suggestion.events == ("Referral Sent",)
    only_pages = _use_case("read-more", SuggestedEvent(name="Page Viewed", call="page"))
    assert suggest(only_pages).definition == "page().within(30 days)"


def test_a_recipe_naming_an_event_the_use_case_lacks_falls_back() -> None:
    changed = _use_case("mitigate-cart-abandonment", SuggestedEvent(name="Cart Viewed"))
    with pytest.raises(RecipeError, match="'Checkout Started'"):
        from_recipe(RECIPES["mitigate-cart-abandonment"], changed)
    assert suggest(changed).definition == "event('Cart Viewed').within(30 days)"
    recipe = Recipe("Both", "{Cart Viewed} and {Cart Viewed}.count() >= 2", "twice")
    assert from_recipe(recipe, changed).events == ("Cart Viewed",), "each event listed once"
