"""Entries of the setup view's ``steps``, and the "Activate your data" steps over identity.

Every step is ``{"id", "title", "status": "done|todo|blocked|unavailable", "available",
"action", ...}``. The Unify step lists the default identifiers it adds (priority, type,
limit, window) and the dev identifiers configured; the republish step has an
``identity_rules`` part (imported through the identity service) and an ``audiences`` part
that reports ``"available": false`` until Shoal has audiences.
"""

from __future__ import annotations

from typing import Any

from shoal.identity.rules import IdentitySettings, out_of_the_box
from shoal.onboarding import capabilities as caps
from shoal.onboarding.repo import SetupRecord
from shoal.onboarding.unify import (
    REPUBLISH_ACTION,
    REPUBLISH_TITLE,
    UNIFY_ACTION,
    UNIFY_TITLE,
    IdentityState,
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


def unify_done(state: IdentityState, record: SetupRecord | None) -> bool:
    """Done once the setup added the identifiers, or dev already has them all."""
    return state.has_defaults or (record is not None and record.identifiers_added_at is not None)


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


def republished(state: IdentityState, record: SetupRecord | None) -> bool:
    """Done once republished and prod's rules still equal dev's."""
    return record is not None and record.republished_at is not None and state.in_sync


def republish_data(state: IdentityState, record: SetupRecord | None) -> dict[str, Any]:
    """The republish step's two parts: identity rules (imported) and audiences (not yet)."""
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
        "audiences": audiences_part(),
    }


def audiences_part() -> dict[str, Any]:
    """The audience half of republishing, which waits for audiences."""
    return {
        "available": False,
        "waits_for": caps.REPUBLISH_AUDIENCES.name,
        "message": caps.REPUBLISH_AUDIENCES.message,
    }


def activate(rec: SetupRecord | None, state: IdentityState | None) -> list[dict[str, Any]]:
    """Seed 003's "Activate your data": Unify, Engage, then republishing to prod."""
    engage = unavailable("engage_audience", "Engage: create an audience", caps.AUDIENCES)
    if state is None:
        return [
            unavailable("unify_identifiers", UNIFY_TITLE, caps.IDENTITY_MISSING),
            engage,
            unavailable(
                "republish",
                REPUBLISH_TITLE,
                caps.IDENTITY_MISSING,
                audiences=audiences_part(),
            ),
        ]
    verified = rec is not None and rec.publish_verified_at is not None
    return [
        step(
            "unify_identifiers",
            UNIFY_TITLE,
            unify_done(state, rec),
            verified,
            UNIFY_ACTION,
            **unify_data(state, rec),
        ),
        engage,
        step(
            "republish",
            REPUBLISH_TITLE,
            republished(state, rec),
            verified and state.dev_saved,
            REPUBLISH_ACTION,
            **republish_data(state, rec),
        ),
    ]
