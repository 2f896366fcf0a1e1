"""The audience the Engage step suggests for a use case, built from the use case's events.

Seed 003's Engage step is "create an audience"; Shoal proposes a first one that fits the
chosen use case. Each use case has a recipe: a display name, what the audience is for, and
a definition in the audience text form (``docs/audiences.md``) whose events are written as
``{Event Name}``. The placeholders name events the catalog suggests for that use case
(seed 001's reference); each becomes ``event('…')``, ``page()`` or ``screen()`` according
to the call the catalog gives the event, so the definition tracks the catalog: rename an
event there and the recipe stops resolving (``tests/onboarding/test_suggestions.py`` checks
every use case). A use case without a recipe (one added to the catalog later) falls back
to "performed its key event in the last 30 days".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.audiences.service import key_from
from shoal.catalog import SuggestedEvent, UseCase


@dataclass(frozen=True, slots=True)
class Recipe:
    """How to build a use case's suggested audience from its events."""

    name: str
    template: str
    """The text form with ``{Event Name}`` for each of the use case's suggested events."""
    purpose: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A suggested audience: what the Engage form is prefilled with."""

    name: str
    key: str
    definition: str
    purpose: str
    events: tuple[str, ...]
    """The catalog events the definition uses, in the order it uses them."""


# The "not followed within" windows follow what each funnel step usually takes: a checkout
# is abandoned after an hour, an onboarding stalls after a day, a trial runs two weeks.
RECIPES: dict[str, Recipe] = {
    "build-high-value-lookalikes": Recipe(
        "Repeat purchasers",
        "{Order Completed}.count() >= 3",
        "Customers with three or more orders: a high-value seed for lookalike audiences.",
    ),
    "build-lookalikes-for-app-install": Recipe(
        "Active app users",
        "{Application Opened}.within(30 days).count() >= 5",
        "People who opened the app five or more times in the last 30 days: a seed for "
        "app-install lookalikes.",
    ),
    "increase-signups-with-lookalikes": Recipe(
        "Recent sign-ups",
        "{Signed Up}.within(30 days)",
        "People who signed up in the last 30 days: a seed for sign-up lookalikes.",
    ),
    "mitigate-cart-abandonment": Recipe(
        "Abandoned checkouts",
        "{Checkout Started} then not {Order Completed} within 1 hour",
        "People who started a checkout and did not complete the order within an hour.",
    ),
    "mitigate-high-value-churn": Recipe(
        "Lapsing repeat customers",
        "{Order Completed}.count() >= 2 and {Order Completed}.within(60 days).count() = 0",
        "Customers with two or more orders but none in the last 60 days.",
    ),
    "suppress-based-on-time": Recipe(
        "Purchased in the last 30 days",
        "{Order Completed}.within(30 days)",
        "Recent buyers, to leave out of ads for a while after they purchase.",
    ),
    "suppress-with-purchase": Recipe(
        "Purchasers",
        "{Order Completed}",
        "People who already purchased, to leave out of acquisition ads.",
    ),
    "accelerate-app-install": Recipe(
        "Engaged web visitors",
        "{Page Viewed}.within(30 days).count() >= 3",
        "Visitors with three or more page views in the last 30 days, to invite to the app.",
    ),
    "accelerate-onboarding": Recipe(
        "Stalled onboarding",
        "{Onboarding Step Completed} then not {Onboarding Completed} within 1 day",
        "People who completed an onboarding step but not the onboarding within a day.",
    ),
    "accelerate-signup": Recipe(
        "Engaged visitors not signed up",
        "{Page Viewed}.within(30 days).count() >= 3 and {Signed Up}.count() = 0",
        "Visitors with three or more page views in the last 30 days who have not signed up.",
    ),
    "acquire-paid-subscriptions": Recipe(
        "Trials not converted",
        "{Trial Started} then not {Subscription Started} within 14 days",
        "People who started a trial and did not subscribe within 14 days.",
    ),
    "convert-trials-to-paid-subscriptions": Recipe(
        "Trials not converted",
        "{Trial Started} then not {Subscription Started} within 14 days",
        "People who started a trial and did not subscribe within 14 days.",
    ),
    "increase-repeat-purchases": Recipe(
        "One-time buyers",
        "{Order Completed}.count() = 1",
        "Customers with exactly one order, to bring back for a second.",
    ),
    "nurture-with-content": Recipe(
        "Engaged readers",
        "{Page Viewed}.within(30 days).count() >= 3",
        "People with three or more page views in the last 30 days, to nurture with content.",
    ),
    "personalize-upsell-content": Recipe(
        "Recent purchasers",
        "{Order Completed}.within(30 days)",
        "Customers who ordered in the last 30 days, to show upsell content.",
    ),
    "personalize-winback": Recipe(
        "Lapsed customers",
        "{Order Completed} and not {Order Completed}.within(90 days)",
        "Customers who ordered before but not in the last 90 days, to win back.",
    ),
}

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class RecipeError(LookupError):
    """A recipe names an event its use case does not suggest (the catalog changed)."""


def reference(event: SuggestedEvent) -> str:
    """An event in the audience text form: ``page()``/``screen()`` for page and screen
    calls (the catalog names those by what they record, not by a page name), else
    ``event('Name')``."""
    if event.call in ("page", "screen"):
        return f"{event.call}()"
    quoted = event.name.replace("\\", "\\\\").replace("'", "\\'")
    return f"event('{quoted}')"


def from_recipe(recipe: Recipe, use_case: UseCase) -> Suggestion:
    """The suggestion a recipe makes for ``use_case``.

    Raises:
        RecipeError: If the recipe names an event the use case does not suggest.
    """
    suggested = {e.name: e for e in use_case.events}
    used: list[str] = []

    def resolve(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in suggested:
            raise RecipeError(
                f"the audience recipe of {use_case.id!r} uses {name!r}, which the use case "
                f"does not suggest (it suggests {', '.join(suggested)})"
            )
        if name not in used:
            used.append(name)
        return reference(suggested[name])

    definition = _PLACEHOLDER.sub(resolve, recipe.template)
    return Suggestion(recipe.name, key_from(recipe.name), definition, recipe.purpose, tuple(used))


def key_event(use_case: UseCase) -> SuggestedEvent:
    """The event a fallback suggestion is about: the first track event (page and screen
    calls are only the way in), else the first event."""
    return next((e for e in use_case.events if e.call == "track"), use_case.events[0])


def fallback(use_case: UseCase) -> Suggestion:
    """The suggestion of a use case without a recipe: its key event in the last 30 days."""
    event = key_event(use_case)
    name = f"Performed {event.name} in the last 30 days"
    return Suggestion(
        name,
        key_from(name),
        f"{reference(event)}.within(30 days)",
        f"People who performed {event.name} in the last 30 days.",
        (event.name,),
    )


def suggest(use_case: UseCase) -> Suggestion:
    """The audience the Engage step suggests for ``use_case``."""
    recipe = RECIPES.get(use_case.id)
    if recipe is None:
        return fallback(use_case)
    try:
        return from_recipe(recipe, use_case)
    except RecipeError:
        # A catalog edit must not break the setup; the suggestion tests catch it instead.
        return fallback(use_case)
