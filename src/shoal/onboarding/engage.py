"""The guided setup's Engage step and the audience half of republishing (``shoal.audiences``).

Seed 003's "Activate your data with Unify and Engage": after Unify, **Engage** creates an
audience in the dev space. The setup suggests one for the chosen use case (see
``suggestions``); the name and definition may be changed. The audience is created through
``AudienceService.create``, so it is validated, versioned and computed exactly as
``POST /api/v1/audiences`` does. The step is done once the dev space has an audience.
**Republish** then imports every dev audience into prod (same key, name, collection,
definition and refresh policy), leaving alone the audiences prod already has by key, and
records each dev/prod pair on the setup. The view's entries are built in ``steps``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.audiences import model
from shoal.audiences.engine import ordered
from shoal.audiences.repo import Audience, Conflict
from shoal.audiences.service import AudienceService
from shoal.audiences.text_format import to_text
from shoal.catalog import UseCase
from shoal.control import User
from shoal.onboarding import capabilities as caps
from shoal.onboarding import unify
from shoal.onboarding.errors import SetupError, not_ready
from shoal.onboarding.repo import PublishedAudience, SetupRecord
from shoal.onboarding.suggestions import Suggestion, suggest

if TYPE_CHECKING:
    from shoal.onboarding.flow import SetupService

ENGAGE_TITLE = "Engage: create an audience"
ENGAGE_ACTION = "POST /api/v1/setup/engage"
MAX_NAME = 200
_UNIFY_FIRST = (
    "add the default identifiers first (Unify): audiences are built from the profiles "
    "identity resolution makes in dev"
)


@dataclass(frozen=True, slots=True)
class AudienceState:
    """The dev audiences a user may see, and every prod audience of the workspace.

    Prod is read whole because a key is unique per space: an audience hidden from this
    user still takes its key in prod.
    """

    dev: list[Audience]
    prod: list[Audience]

    def twin(self, audience: Audience) -> Audience | None:
        """The prod audience with the key of a dev ``audience``, if any."""
        return next((a for a in self.prod if a.key == audience.key), None)

    @property
    def in_sync(self) -> bool:
        """Whether prod has an audience with the key of every dev audience."""
        return all(self.twin(a) is not None for a in self.dev)


def read(audiences: AudienceService, user: User) -> AudienceState:
    """Both spaces' audiences (blocking: run it in a thread)."""
    return AudienceState(
        audiences.visible(user, "dev"), audiences.repo.all(user.workspace_id, "prod")
    )


def _service(audiences: AudienceService | None) -> AudienceService:
    if audiences is None:
        raise SetupError(409, "not_available", caps.AUDIENCES_MISSING.message)
    return audiences


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def describe(audience: Audience) -> dict[str, Any]:
    """An audience as the setup shows it: its definition in text and its last result."""
    return {
        "id": audience.id,
        "key": audience.key,
        "name": audience.name,
        "space": audience.environment,
        "collection": audience.collection,
        # The stored tree printed again: the list endpoints do not load the saved text, and
        # the canonical print is what was saved.
        "text": to_text(model.from_json(audience.definition)),
        "refresh": audience.refresh,
        "status": audience.status,
        "size": audience.size,
        "computed_at": _iso(audience.computed_at),
        "error": audience.error,
    }


def suggestion_data(suggestion: Suggestion, state: AudienceState) -> dict[str, Any]:
    """The suggested audience, and whether the dev space already has its key."""
    return {
        "name": suggestion.name,
        "key": suggestion.key,
        "definition": suggestion.definition,
        "purpose": suggestion.purpose,
        "events": list(suggestion.events),
        "exists": any(a.key == suggestion.key for a in state.dev),
    }


def engage_data(state: AudienceState, use_case: UseCase | None) -> dict[str, Any]:
    """The Engage step's fields: the suggestion for the use case and the dev audiences."""
    return {
        "about": caps.AUDIENCES.message,
        "space": "dev",
        "suggestion": suggestion_data(suggest(use_case), state) if use_case else None,
        "audiences": [describe(a) for a in state.dev],
    }


def imported_pairs(record: SetupRecord | None, state: AudienceState) -> list[PublishedAudience]:
    """The audiences the setup imported whose prod copy still exists."""
    prod = {a.id for a in state.prod}
    return [p for p in (record.prod_audiences if record else ()) if p.prod_audience_id in prod]


def audiences_part(record: SetupRecord | None, state: AudienceState | None) -> dict[str, Any]:
    """The audience half of republishing: each dev audience and where prod stands."""
    if state is None:
        return {
            "available": False,
            "waits_for": caps.REPUBLISH_AUDIENCES_MISSING.name,
            "message": caps.REPUBLISH_AUDIENCES_MISSING.message,
        }
    pairs = {p.dev_audience_id: p.prod_audience_id for p in imported_pairs(record, state)}
    listed = []
    for audience in state.dev:
        twin = state.twin(audience)
        if twin is None:
            prod = "missing"
        elif pairs.get(audience.id) == twin.id:
            prod = "imported"
        else:
            prod = "already_in_prod"
        listed.append(
            {**describe(audience), "prod": prod, "prod_audience_id": twin.id if twin else None}
        )
    missing = sum(1 for a in listed if a["prod"] == "missing")
    if not state.dev:
        message = "The dev space has no audiences yet: create one in Engage, then republish."
    elif missing == 1:
        message = "1 dev audience is not in prod yet: republish to import it."
    elif missing:
        message = f"{missing} dev audiences are not in prod yet: republish to import them."
    else:
        message = "Prod has every dev audience."
    return {
        "available": True,
        "about": caps.REPUBLISH_AUDIENCES.message,
        "from_space": "dev",
        "to_space": "prod",
        "in_sync": state.in_sync,
        "imported": len(pairs),
        "already_in_prod": sum(1 for a in listed if a["prod"] == "already_in_prod"),
        "to_import": missing,
        "message": message,
        "audiences": listed,
    }


async def create_audience(
    setup: SetupService,
    user: User,
    audiences: AudienceService | None,
    *,
    name: str | None,
    definition: str | dict[str, Any] | None,
) -> tuple[SetupRecord, Audience]:
    """Engage: create an audience in the dev space; the suggestion fills what is not given.

    Refused (409 ``step_not_ready``) before publishing was verified and the default
    identifiers were added; a bad name or definition answers 422 with the parser's message,
    a name whose key the dev space already has 409 ``conflict``.
    """
    record = await asyncio.to_thread(setup.started, user)
    service = _service(audiences)
    identity = unify.service_of(setup)
    if record.publish_verified_at is None:
        raise not_ready(unify.VERIFY_FIRST)
    state = await asyncio.to_thread(unify.read, identity, user.workspace_id)
    if not unify.unify_done(state, record):
        raise not_ready(_UNIFY_FIRST)
    use_case = setup.use_case_of(record)
    suggestion = suggest(use_case) if use_case else None
    if name is None and suggestion is not None:
        name = suggestion.name
    if definition is None and suggestion is not None:
        definition = suggestion.definition
    name = name.strip() if name is not None else None
    if not name or len(name) > MAX_NAME or definition is None:
        raise SetupError(
            422,
            "invalid_request",
            f"give the audience a name of 1-{MAX_NAME} characters and a definition",
        )
    body = {"name": name, "definition": definition, "collection": model.USERS}
    try:
        audience = await service.create(user, "dev", body)
    except Conflict as exc:
        raise SetupError(409, "conflict", f"{exc} Give the audience another name.") from None
    except ValueError as exc:
        # DefinitionError and Invalid: the parser's or validator's own words, with position.
        raise SetupError(422, "invalid_request", str(exc)) from None
    return record, audience


def _copy_body(audience: Audience) -> dict[str, Any]:
    """The dev audience's settings, to create its prod twin with."""
    return {
        "key": audience.key,
        "name": audience.name,
        "description": audience.description,
        "collection": audience.collection,
        "definition": audience.definition,
        "refresh": audience.refresh,
        "interval_s": audience.interval_s,
        "emit_events": audience.emit_events,
        "hidden_from": list(audience.hidden_from),
    }


async def import_audiences(
    setup: SetupService, user: User, audiences: AudienceService, record: SetupRecord
) -> SetupRecord:
    """Create in prod every dev audience prod lacks (by key), and record the pairs; what
    prod already had is left alone (the view's ``audiences`` part says which is which).

    Audiences others include are created first (``ordered``), so references resolve in
    prod; an object collection an audience is built over is declared in prod like in dev.
    An audience that cannot be created is reported (409 ``not_imported``) after the others
    were imported and recorded.
    """
    state = await asyncio.to_thread(read, audiences, user)
    ws = user.workspace_id
    dev_objects = await asyncio.to_thread(audiences.repo.object_collections, ws, "dev")
    prod_objects = await asyncio.to_thread(audiences.repo.object_collections, ws, "prod")
    prod_keys = {a.key for a in state.prod}
    pairs = {p.dev_audience_id: p for p in imported_pairs(record, state)}
    imported: list[str] = []
    failed: list[str] = []
    for audience in ordered(state.dev):
        if audience.key in prod_keys:
            continue
        try:
            wanted = audience.collection
            if wanted in dev_objects and wanted not in prod_objects:
                await asyncio.to_thread(
                    audiences.save_collection, user, "prod", wanted, dev_objects[wanted]
                )
                prod_objects[wanted] = dev_objects[wanted]
            copy = await audiences.create(user, "prod", _copy_body(audience))
        except Conflict:
            continue  # created in prod meanwhile: leave it alone
        except ValueError as exc:
            failed.append(f"{audience.key} ({exc})")
            continue
        prod_keys.add(copy.key)
        pairs[audience.id] = PublishedAudience(audience.id, copy.id)
        imported.append(audience.key)
    recorded = tuple(pairs.values())
    if recorded != record.prod_audiences:
        record = await asyncio.to_thread(setup.repo.save, record, prod_audiences=recorded)
    if failed:
        done = f"imported {len(imported)}; " if imported else ""
        raise SetupError(
            409,
            "not_imported",
            f"{done}could not import into prod: {'; '.join(failed)}. Change the dev "
            "audience (or create what it refers to in prod), then republish",
        )
    return record
