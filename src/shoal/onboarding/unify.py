"""The guided setup's Unify and republish steps, over identity resolution (``shoal.identity``).

Seed 003's "Activate your data with Unify and Engage" comes after publishing to prod and
verifying it. **Unify** ("Add default identifiers") adds whichever of the 11 default
identifiers the dev space lacks, with their default value limits and priorities, through
``IdentityService.add_defaults``; a dev space that already has them all makes the step done
without changing anything. **Republish** imports the dev space's identity rules into prod
through ``IdentityService.import_rules`` and records when; the dev audiences are imported
with them (see ``engage``). The view's entries for these steps are built in ``steps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoal.control import User
from shoal.identity import IdentityService
from shoal.identity.rules import DEFAULT_TYPES, IdentitySettings, default_rule
from shoal.onboarding import capabilities as caps
from shoal.onboarding.errors import SetupError, not_ready
from shoal.onboarding.repo import SetupRecord, now

if TYPE_CHECKING:
    from shoal.onboarding.flow import SetupService

UNIFY_TITLE = "Unify: add default identifiers"
REPUBLISH_TITLE = "Republish to prod (identity rules and audiences)"
UNIFY_ACTION = "POST /api/v1/setup/unify/default-identifiers"
REPUBLISH_ACTION = "POST /api/v1/setup/republish"
VERIFY_FIRST = (
    "publish to prod and mark it complete first: Unify and Engage build on a setup whose "
    "prod events really arrive"
)


@dataclass(frozen=True, slots=True)
class IdentityState:
    """The identity rules of a workspace's dev and prod spaces, and whether each was saved."""

    dev: IdentitySettings
    dev_saved: bool
    prod: IdentitySettings
    prod_saved: bool

    @property
    def has_defaults(self) -> bool:
        """Whether the dev space's saved rules include every default identifier."""
        return self.dev_saved and all(
            self.dev.rule(t, default_rule(t).collection) is not None for t in DEFAULT_TYPES
        )

    @property
    def in_sync(self) -> bool:
        """Whether prod has saved rules identical to dev's saved rules."""
        return self.dev_saved and self.prod_saved and self.dev == self.prod


def read(identity: IdentityService, workspace_id: str) -> IdentityState:
    """Both spaces' rules (blocking: run it in a thread)."""
    dev, dev_saved = identity.settings(workspace_id, "dev")
    prod, prod_saved = identity.settings(workspace_id, "prod")
    return IdentityState(dev, dev_saved, prod, prod_saved)


def service_of(setup: SetupService) -> IdentityService:
    """The setup's identity resolution, or the refusal of a server that has none."""
    if setup.identity is None:
        raise SetupError(409, "not_available", caps.IDENTITY_MISSING.message)
    return setup.identity


def unify_done(state: IdentityState, record: SetupRecord | None) -> bool:
    """Done once the setup added the identifiers, or dev already has them all."""
    return state.has_defaults or (record is not None and record.identifiers_added_at is not None)


def add_identifiers(setup: SetupService, user: User) -> SetupRecord:
    """Unify: add the missing default identifiers to the dev space and mark the step done.

    Idempotent: when dev already has every default identifier nothing changes. Refused
    (409 ``step_not_ready``) before publishing to prod was verified, unless dev already
    has them all.
    """
    record = setup.started(user)
    identity = service_of(setup)
    if not read(identity, user.workspace_id).has_defaults:
        if record.publish_verified_at is None:
            raise not_ready(VERIFY_FIRST)
        identity.add_defaults(user.workspace_id, "dev")
    if record.identifiers_added_at is None:
        record = setup.repo.save(record, identifiers_added_at=now())
    return record


def republish(setup: SetupService, user: User) -> SetupRecord:
    """Import the dev space's identity rules into prod and record when (blocking)."""
    record = setup.started(user)
    identity = service_of(setup)
    if record.publish_verified_at is None:
        raise not_ready(VERIFY_FIRST)
    _dev, saved = identity.settings(user.workspace_id, "dev")
    if not saved:
        raise not_ready(
            "add the default identifiers in dev first (Unify): republishing copies the dev "
            "space's identity rules to prod"
        )
    identity.import_rules(user.workspace_id, "dev", "prod")
    return setup.repo.save(record, republished_at=now())
