"""Identity resolution as the runtime sees it: settings, the stage, computed traits, replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from shoal.control.repo import ControlPlane
from shoal.identity.computed import ComputedTrait, compute, empty_value, encode
from shoal.identity.duckdb_store import DuckDBIdentityStore
from shoal.identity.graph import RoundChanges, wall_ms
from shoal.identity.repo import IdentityRepo, check_space
from shoal.identity.rules import CompiledSettings, IdentitySettings, add_defaults
from shoal.identity.stage import IdentityStage, space_of
from shoal.store.duckdb import DuckDBStore

log = logging.getLogger("shoal.identity")
_WINDOW_REFRESH_S = 3600.0


class IdentityService:
    """Owns the identity stage and keeps its rules and computed traits current."""

    def __init__(self, control: ControlPlane, store: DuckDBStore) -> None:
        self.repo = IdentityRepo(control)
        self.store = DuckDBIdentityStore(store)
        self._rules: dict[tuple[str, str], CompiledSettings] = {}
        self._traits: dict[tuple[str, str], list[ComputedTrait]] | None = None
        self._dirty: dict[str, set[int]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_window_refresh = 0.0
        self._busy = False
        self.listeners: list[Callable[[str, set[int], set[tuple[str, str | None]] | None], None]]
        self.listeners = []
        """Told ``(space, canonical pks)`` of profiles whose events, traits, merges or
        computed traits changed (audiences re-check them)."""
        self.stage = IdentityStage(self.store, self.rules_for, self._mark_dirty)

    async def start(self) -> None:
        """Create the tables and start the computed-trait updater."""
        await self.store.start()
        self._task = asyncio.create_task(self._update_loop(), name="shoal-computed-traits")

    async def stop(self) -> None:
        """Stop the computed-trait updater."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # -- settings -----------------------------------------------------------------------------

    def rules_for(self, workspace_id: str, environment: str) -> CompiledSettings:
        """The compiled rules of a space (cached until its settings change)."""
        key = (workspace_id, environment)
        found = self._rules.get(key)
        if found is None:
            settings, _saved = self.repo.settings(workspace_id, environment)
            found = self._rules[key] = CompiledSettings(settings)
        return found

    def settings(self, workspace_id: str, environment: str) -> tuple[IdentitySettings, bool]:
        """A space's settings and whether they were ever saved."""
        return self.repo.settings(workspace_id, check_space(environment))

    def save(
        self, workspace_id: str, environment: str, settings: IdentitySettings
    ) -> IdentitySettings:
        """Replace a space's settings; they apply to data arriving from now on."""
        saved = self.repo.save_settings(workspace_id, check_space(environment), settings)
        self._rules.pop((workspace_id, environment), None)
        return saved

    def add_defaults(
        self, workspace_id: str, environment: str, suggested_blocks: bool = True
    ) -> IdentitySettings:
        """ "Add default identifiers": save the space's rules with the missing defaults added
        (existing rules keep their settings); saved rules that have them all stay as they are.
        """
        current, saved = self.settings(workspace_id, environment)
        settings = add_defaults(current, suggested_blocks)
        if saved and settings == current:
            return current
        return self.save(workspace_id, environment, settings)

    def import_rules(self, workspace_id: str, source: str, target: str) -> IdentitySettings:
        """Copy one space's identity rules to another (dev → prod when publishing)."""
        if check_space(source) == check_space(target):
            raise ValueError("import identity rules from a different space")
        settings, _saved = self.repo.settings(workspace_id, source)
        return self.save(workspace_id, target, settings)

    # -- computed traits -------------------------------------------------------------------

    def traits(self, workspace_id: str, environment: str) -> list[ComputedTrait]:
        """A space's computed-trait definitions."""
        return self.repo.traits(workspace_id, check_space(environment))

    async def create_trait(
        self, workspace_id: str, environment: str, trait: ComputedTrait
    ) -> ComputedTrait:
        """Define a trait and compute it for every existing profile."""
        await asyncio.to_thread(
            self.repo.create_trait, workspace_id, check_space(environment), trait
        )
        self._traits = None
        await self.refresh(space_of(workspace_id, environment), [trait], None)
        return trait

    async def delete_trait(self, workspace_id: str, environment: str, key: str) -> None:
        """Remove a trait definition and its values."""
        await asyncio.to_thread(self.repo.delete_trait, workspace_id, check_space(environment), key)
        self._traits = None
        space = space_of(workspace_id, environment)
        await self.store.store.run_write(
            lambda con: con.execute(
                "DELETE FROM identity_computed WHERE space = ? AND key = ?", [space, key]
            )
        )

    def _mark_dirty(self, changes: RoundChanges) -> None:
        find = self.stage.graph.find
        touched: dict[str, set[int]] = {}
        # What the round's events were, per space, so audiences can skip definitions no
        # event of the round can change; ``None`` when anything may have changed (merges).
        kinds: dict[str, set[tuple[str, str | None]] | None] = {}
        for space, pk, event in changes.timeline:
            touched.setdefault(space, set()).add(find(pk))
            seen = kinds.setdefault(space, set())
            if seen is not None:
                seen.add((event.type, event.event))
        for profile in changes.profiles.values():
            # Traits changed: audiences with trait conditions are re-checked whatever the
            # events were (they have no event selectors), so the kinds stay as they are.
            touched.setdefault(profile.space, set()).add(find(profile.pk))
        for merge in changes.merges:
            # The merged profile is no longer canonical: audiences drop it.
            touched.setdefault(merge.space, set()).add(merge.from_pk)
            kinds[merge.space] = None
        for space, pks in touched.items():
            self._dirty.setdefault(space, set()).update(pks)
        self._wake.set()
        self._notify(touched, kinds)

    def profiles_changed(self, space: str, pks: set[int]) -> None:
        """Profiles of ``space`` changed or vanished outside a stage round (re-resolution
        deleted them): computed traits and audiences re-check them (an audience drops a
        member that is no longer a canonical profile)."""
        if not pks:
            return
        self._dirty.setdefault(space, set()).update(pks)
        self._wake.set()
        self._notify({space: set(pks)})

    def _notify(
        self,
        touched: dict[str, set[int]],
        kinds: dict[str, set[tuple[str, str | None]] | None] | None = None,
    ) -> None:
        for listener in self.listeners:
            for space, pks in touched.items():
                listener(space, pks, None if kinds is None else kinds.get(space))

    async def _definitions(self) -> dict[tuple[str, str], list[ComputedTrait]]:
        if self._traits is None:
            self._traits = await asyncio.to_thread(self.repo.all_traits)
        return self._traits

    async def refresh(self, space: str, traits: list[ComputedTrait], pks: list[int] | None) -> int:
        """Recompute ``traits`` for the canonical profiles ``pks`` (all when ``None``)."""
        if not traits:
            return 0
        now = wall_ms()

        def run(cur: Any) -> list[tuple[ComputedTrait, dict[int, Any]]]:
            return [(trait, compute(cur, trait, space, pks, now)) for trait in traits]

        results = await self.store.store.run_read(run)

        def write(con: Any) -> int:
            con.execute("BEGIN TRANSACTION")
            try:
                rows: list[tuple[Any, ...]] = []
                for trait, values in results:
                    if pks is None:
                        con.execute(
                            "DELETE FROM identity_computed WHERE space = ? AND key = ?",
                            [space, trait.key],
                        )
                        targets = list(values)
                    else:
                        con.execute(
                            "DELETE FROM identity_computed WHERE space = ? AND key = ? "
                            "AND pk IN (SELECT unnest(?::BIGINT[]))",
                            [space, trait.key, pks],
                        )
                        targets = pks
                    empty = encode(empty_value(trait))
                    for pk in targets:
                        value = encode(values[pk]) if pk in values else empty
                        rows.append((space, pk, trait.key, value, now))
                if rows:
                    appender = con.appender("identity_computed")
                    appender.append_rows(rows)
                    appender.flush()
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return len(rows)

        return int(await self.store.store.run_write(write))

    async def _update_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0.2)  # gather a few rounds into one recomputation
            dirty, self._dirty = self._dirty, {}
            self._busy = True
            try:
                definitions = await self._definitions()
                refreshed: dict[str, set[int]] = {}
                for (workspace_id, environment), traits in definitions.items():
                    space = space_of(workspace_id, environment)
                    pks = dirty.get(space)
                    if not pks:
                        continue
                    users, accounts = await self._targets(space, pks)
                    for collection, targets in (("users", users), ("accounts", accounts)):
                        chosen = [t for t in traits if t.collection == collection]
                        if chosen and targets:
                            await self.refresh(space, chosen, sorted(targets))
                            refreshed.setdefault(space, set()).update(targets)
                self._notify(refreshed)
                await self._refresh_windows(definitions)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("computing traits failed; retrying with the next round")
                for space, pks in dirty.items():
                    self._dirty.setdefault(space, set()).update(pks)
            finally:
                self._busy = False

    async def _targets(self, space: str, pks: set[int]) -> tuple[set[int], set[int]]:
        """The canonical users among ``pks``, and the accounts among them or linked to them
        (an account's traits aggregate its users' events)."""

        def run(cur: Any) -> list[tuple[int, str]]:
            rows: list[tuple[int, str]] = cur.execute(
                "WITH d AS (SELECT unnest(?::BIGINT[]) AS pk) "
                "SELECT canonical, collection FROM identity_profiles "
                "WHERE pk IN (SELECT pk FROM d) AND canonical = pk "
                "UNION SELECT a.canonical, 'accounts' FROM identity_links l "
                "JOIN identity_profiles u ON u.pk = l.user_pk "
                "JOIN identity_profiles a ON a.pk = l.account_pk "
                "WHERE l.space = ? AND u.canonical IN (SELECT pk FROM d)",
                [sorted(pks), space],
            ).fetchall()
            return rows

        users: set[int] = set()
        accounts: set[int] = set()
        for pk, collection in await self.store.store.run_read(run):
            (users if collection == "users" else accounts).add(int(pk))
        return users, accounts

    async def _refresh_windows(
        self, definitions: dict[tuple[str, str], list[ComputedTrait]]
    ) -> None:
        # "Last N days" values change as time passes, without any new event.
        now = asyncio.get_running_loop().time()
        if now - self._last_window_refresh < _WINDOW_REFRESH_S:
            return
        self._last_window_refresh = now
        for (workspace_id, environment), traits in definitions.items():
            windowed = [t for t in traits if t.window_days is not None]
            await self.refresh(space_of(workspace_id, environment), windowed, None)

    def computing(self) -> bool:
        """Whether computed traits still wait for a recomputation."""
        return bool(self._dirty) or self._wake.is_set() or self._busy

    def resolve_space(self, workspace_id: str, environment: str) -> str:
        """The internal space of a workspace environment (``NotFound`` for anything else)."""
        return space_of(workspace_id, check_space(environment))
