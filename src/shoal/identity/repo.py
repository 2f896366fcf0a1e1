"""Identity settings and computed-trait definitions in the control plane, per space.

A space is a workspace's ``dev`` or ``prod`` environment: each has its own rules, traits
and profiles.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from shoal.control import tables as t
from shoal.control.repo import Conflict, ControlPlane, NotFound
from shoal.identity.computed import ComputedTrait
from shoal.identity.rules import IdentitySettings, out_of_the_box

SPACES = ("dev", "prod")


def check_space(environment: str) -> str:
    """``environment`` if it names a space, else ``NotFound``."""
    if environment not in SPACES:
        raise NotFound(f"Space was not found: {environment!r} (spaces are 'dev' and 'prod').")
    return environment


class IdentityRepo:
    """Reads and writes the identity rows of the control plane."""

    def __init__(self, control: ControlPlane) -> None:
        self.engine = control.engine

    def settings(self, workspace_id: str, environment: str) -> tuple[IdentitySettings, bool]:
        """The space's settings and whether they were saved (else out of the box)."""
        query = select(t.identity_settings.c.settings).where(
            t.identity_settings.c.workspace_id == workspace_id,
            t.identity_settings.c.environment == environment,
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return out_of_the_box(), False
        return IdentitySettings.model_validate(row[0]), True

    def save_settings(
        self, workspace_id: str, environment: str, settings: IdentitySettings
    ) -> IdentitySettings:
        """Replace a space's settings."""
        values = {"settings": settings.model_dump(mode="json"), "updated_at": datetime.now(UTC)}
        table = t.identity_settings
        where = (table.c.workspace_id == workspace_id, table.c.environment == environment)
        with self.engine.begin() as conn:
            changed = conn.execute(update(table).where(*where).values(**values)).rowcount
            if not changed:
                conn.execute(
                    insert(table).values(
                        workspace_id=workspace_id, environment=environment, **values
                    )
                )
        return settings

    def traits(self, workspace_id: str, environment: str) -> list[ComputedTrait]:
        """Computed-trait definitions of a space, by key."""
        table = t.computed_traits
        query = (
            select(table.c.definition)
            .where(table.c.workspace_id == workspace_id, table.c.environment == environment)
            .order_by(table.c.key)
        )
        with self.engine.connect() as conn:
            return [ComputedTrait.model_validate(row[0]) for row in conn.execute(query)]

    def all_traits(self) -> dict[tuple[str, str], list[ComputedTrait]]:
        """Every space's definitions (for the pipeline's cache)."""
        table = t.computed_traits
        out: dict[tuple[str, str], list[ComputedTrait]] = {}
        with self.engine.connect() as conn:
            for ws, env, definition in conn.execute(
                select(table.c.workspace_id, table.c.environment, table.c.definition)
            ):
                out.setdefault((ws, env), []).append(ComputedTrait.model_validate(definition))
        return out

    def create_trait(self, workspace_id: str, environment: str, trait: ComputedTrait) -> None:
        """Add a definition (``Conflict`` if the key is taken)."""
        if any(existing.key == trait.key for existing in self.traits(workspace_id, environment)):
            raise Conflict(f"a computed trait {trait.key!r} already exists in {environment}")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.computed_traits).values(
                    workspace_id=workspace_id,
                    environment=environment,
                    key=trait.key,
                    definition=trait.model_dump(mode="json"),
                    created_at=now,
                    updated_at=now,
                )
            )

    def delete_trait(self, workspace_id: str, environment: str, key: str) -> None:
        """Remove a definition (``NotFound`` if there is none)."""
        table = t.computed_traits
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(table).where(
                    table.c.workspace_id == workspace_id,
                    table.c.environment == environment,
                    table.c.key == key,
                )
            ).rowcount
        if not gone:
            raise NotFound(f"no computed trait {key!r} in {environment}")
