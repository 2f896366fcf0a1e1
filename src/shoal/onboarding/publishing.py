"""Publishing the guided setup to prod, and verifying that prod events really arrive.

Publishing creates a prod source per dev source (same name, type, enabled flag and rate
limit; a new write key), then a prod copy of each dev destination connected to the prod
twins of its sources (see ``SetupDestinations.publish``). Publishing again only adds what
is new. Completing is refused until every prod source has stored an accepted event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shoal.control import User
from shoal.control.repo import Conflict
from shoal.destinations.repo import Destination
from shoal.onboarding.errors import SetupError, not_ready
from shoal.onboarding.repo import PublishedSource, SetupRecord, now
from shoal.wording import noun_for

if TYPE_CHECKING:
    from shoal.onboarding.flow import SetupService


def _invalid(what: str, missing: set[str]) -> SetupError:
    listed = ", ".join(sorted(missing))
    return SetupError(422, "invalid_request", f"not {what} of this setup: {listed}")


async def publish(
    setup: SetupService,
    user: User,
    source_ids: Sequence[str] | None,
    destination_ids: Sequence[str] | None,
) -> SetupRecord:
    """Create prod sources and destinations from the chosen dev ones. ``None`` chooses
    every dev source, and every dev destination connected to a published source; an empty
    list of destinations copies none (copies made before keep their connections growing)."""
    record = await asyncio.to_thread(setup.started, user)
    dev, _prod = await asyncio.to_thread(setup.destinations_of, record)
    chosen: list[Destination] | None = None
    if destination_ids is not None:
        missing = set(destination_ids) - {d.id for d in dev}
        if missing:
            raise _invalid("dev destinations", missing)
        chosen = [d for d in dev if d.id in set(destination_ids)]
    record = await asyncio.to_thread(publish_sources, setup, user, source_ids)
    pairs = await setup.destinations.publish(user, record, dev, chosen)
    if pairs != record.prod_destinations:
        record = await asyncio.to_thread(setup.repo.save, record, prod_destinations=pairs)
    return record


def publish_sources(
    setup: SetupService, user: User, source_ids: Sequence[str] | None
) -> SetupRecord:
    """Create the prod twins of the chosen dev sources (blocking: run it in a thread)."""
    record = setup.started(user)
    dev, _prod = setup.sources_of(record)
    if not record.locked or not dev:
        raise not_ready("connect at least one dev source before publishing to prod")
    missing = set(source_ids or ()) - {s.id for s in dev}
    if missing:
        raise _invalid("dev sources", missing)
    chosen = dev if not source_ids else [s for s in dev if s.id in set(source_ids)]
    published = {p.dev_source_id for p in record.prod_sources}
    created = list(record.prod_sources)
    for source in chosen:
        if source.id in published:
            continue
        try:
            prod = setup.control.create_source(
                user.workspace_id,
                source.name,
                source.type,
                "prod",
                enabled=source.enabled,
                rate_limit=source.rate_limit,
            )
        except Conflict as exc:
            raise Conflict(
                f"a prod source named {source.name!r} already exists; rename the dev source "
                "or the prod one, then publish again"
            ) from exc
        if record.plan_id is not None:
            setup.plans.attach(user.workspace_id, record.plan_id, [prod.id])
        created.append(PublishedSource(source.id, prod.id))
        record = setup.repo.save(record, prod_sources=tuple(created))
    if record.published_at is None:
        record = setup.repo.save(record, published_at=now())
    return record


async def complete_publish(setup: SetupService, user: User) -> SetupRecord:
    """Mark publishing complete, once every prod source has really received events."""
    record = await asyncio.to_thread(setup.started, user)
    _dev, prod = await asyncio.to_thread(setup.sources_of, record)
    if record.published_at is None or not prod:
        raise not_ready("publish to prod first: that creates your prod sources")
    silent = [s for s in prod if await setup.store.count(s.id, "accepted") == 0]
    if silent:
        names = ", ".join(f"{s.name!r} ({s.id})" for s in silent)
        raise SetupError(
            409,
            "not_verified",
            f"no accepted events have arrived yet from prod "
            f"{noun_for(len(silent), 'source')} {names}; send events "
            "with the prod write key, check the debugger, then mark this step complete",
        )
    if record.publish_verified_at is not None:
        return record
    return await asyncio.to_thread(setup.repo.save, record, publish_verified_at=now())
