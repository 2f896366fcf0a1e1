"""Entries of the setup view's ``steps``, and the "Activate your data" steps.

Every step is ``{"id", "title", "status": "done|todo|blocked|unavailable", "available",
"action", ...}``. The Unify step lists the default identifiers it adds (priority, type,
limit, window) and the dev identifiers configured; the Engage step the audience suggested
for the use case and the dev audiences; the republish step has an ``identity_rules`` part
(imported through the identity service) and an ``audiences`` part (each dev audience and
whether prod has it; see ``engage``).
"""

from __future__ import annotations

from typing import Any

from shoal.catalog import UseCase
from shoal.identity.rules import IdentitySettings, out_of_the_box
from shoal.onboarding import capabilities as caps
from shoal.onboarding.engage import (
    ENGAGE_ACTION,
    ENGAGE_TITLE,
    AudienceState,
    audiences_part,
    engage_data,
)
from shoal.onboarding.repo import SetupRecord
from shoal.onboarding.unify import (
    REPUBLISH_ACTION,
    REPUBLISH_TITLE,
    UNIFY_ACTION,
    UNIFY_TITLE,
    IdentityState,
    unify_done,
)


def step(
    step_id: str, title: str, done: bool, ready: bool, action: str | None, **data: Any
) -> dict[str, Any]:
    """A step Shoal can do: done, todo (``ready``) or blocked by an earlier step."""
    status = "done" if done else ("todo" if ready else "blocked")
    return {
        "id": step_id,
        "title": title,
        "status": status,
        "available": True,
        "action": action,
        **data,
    }


def unavailable(
    step_id: str, title: str, capability: caps.Capability, **data: Any
) -> dict[str, Any]:
    """A step whose capability Shoal lacks, saying which and why."""
    return {
        "id": step_id,
        "title": title,
        "status": "unavailable",
        "available": False,
        "waits_for": capability.name,
        "message": capability.message,
        "action": None,
        **data,
    }


def rules(settings: IdentitySettings) -> list[dict[str, Any]]:
    """Identifier rules as the setup shows them: priority 1 first, limits and windows."""
    return [
        {
            "priority": index + 1,
            "type": rule.type,
            "collection": rule.collection,
            "limit": rule.limit,
            "window": rule.window,
            "enabled": rule.enabled,
        }
        for index, rule in enumerate(settings.identifiers)
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def unify_data(state: IdentityState, record: SetupRecord | None) -> dict[str, Any]:
    """The Unify step's fields: the defaults it adds and the dev identifiers configured."""
    configured = {(r.collection, r.type) for r in state.dev.identifiers} if state.dev_saved else ()
    return {
        "about": caps.IDENTITY.message,
        "space": "dev",
        "added_at": _iso(record.identifiers_added_at if record else None),
        "defaults": [
            {**rule, "configured": (rule["collection"], rule["type"]) in configured}
            for rule in rules(out_of_the_box())
        ],
        "saved": state.dev_saved,
        "identifiers": rules(state.dev) if state.dev_saved else [],
    }


def republished(
    state: IdentityState, record: SetupRecord | None, audiences: AudienceState | None
) -> bool:
    """Done once republished, prod's rules still equal dev's and prod has every dev
    audience (when this server has audiences)."""
    imported = audiences is None or audiences.in_sync
    return record is not None and record.republished_at is not None and state.in_sync and imported


def republish_data(
    state: IdentityState, record: SetupRecord | None, audiences: AudienceState | None
) -> dict[str, Any]:
    """The republish step's two parts: identity rules and audiences."""
    when = record.republished_at if record else None
    if when is None:
        message = "Import the dev space's identity rules into prod."
    elif state.in_sync:
        message = "Prod has the same identity rules as dev."
    else:
        message = "The identity rules changed since they were imported: import them again."
    return {
        "about": caps.REPUBLISH.message,
        "identity_rules": {
            "available": True,
            "from_space": "dev",
            "to_space": "prod",
            "republished_at": _iso(when),
            "in_sync": state.in_sync,
            "message": message,
            "rules": rules(state.dev) if state.dev_saved else [],
            "prod_rules": rules(state.prod) if state.prod_saved else [],
        },
        "audiences": audiences_part(record, audiences),
    }


def activate(
    rec: SetupRecord | None,
    state: IdentityState | None,
    audiences: AudienceState | None,
    use_case: UseCase | None,
) -> list[dict[str, Any]]:
    """Seed 003's "Activate your data": Unify, Engage, then republishing to prod.

    Engage follows Unify: it can be done once the default identifiers are in dev, after
    publishing was verified, and it is done when the dev space has an audience.
    """
    if state is None:
        return [
            unavailable("unify_identifiers", UNIFY_TITLE, caps.IDENTITY_MISSING),
            unavailable("engage_audience", ENGAGE_TITLE, caps.AUDIENCES_MISSING),
            unavailable(
                "republish",
                REPUBLISH_TITLE,
                caps.IDENTITY_MISSING,
                audiences=audiences_part(rec, None),
            ),
        ]
    verified = rec is not None and rec.publish_verified_at is not None
    unified = unify_done(state, rec)
    if audiences is None:
        engage = unavailable("engage_audience", ENGAGE_TITLE, caps.AUDIENCES_MISSING)
    else:
        engage = step(
            "engage_audience",
            ENGAGE_TITLE,
            unified and bool(audiences.dev),
            verified and unified,
            ENGAGE_ACTION,
            **engage_data(audiences, use_case),
        )
    return [
        step(
            "unify_identifiers",
            UNIFY_TITLE,
            unified,
            verified,
            UNIFY_ACTION,
            **unify_data(state, rec),
        ),
        engage,
        step(
            "republish",
            REPUBLISH_TITLE,
            republished(state, rec, audiences),
            verified and state.dev_saved,
            REPUBLISH_ACTION,
            **republish_data(state, rec, audiences),
        ),
    ]
