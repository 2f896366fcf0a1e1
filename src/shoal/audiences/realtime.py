"""Real-time passes: every real-time audience of a space re-checked for the profiles that
identity resolution says a round touched.

A pass takes every profile touched since the one before (so under load a change waits for
about one pass, not a queue of them), and evaluates the space's real-time audiences level
by level of their dependencies: an audience built on another is on a later level and sees
that one's new members within the same pass. Each level is one statement (``combined``),
compiled once per set of audience versions and read on the pass's own cursor
(``realtime_store``); its changes are applied in one write, then recorded on the audiences,
sent as events and told to listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shoal.audiences import model
from shoal.audiences.combined import changes as combined_changes
from shoal.audiences.compiler import NOW_SENTINEL, ONLY_TABLE, compile_members
from shoal.audiences.embedded import realtime_schema
from shoal.audiences.members import Applied
from shoal.audiences.realtime_store import Found, PassReader, Statement
from shoal.audiences.repo import Audience
from shoal.identity.stage import space_of

if TYPE_CHECKING:
    from shoal.audiences.engine import AudienceEngine

log = logging.getLogger("shoal.audiences")

Kinds = set[tuple[str, str | None]]
"""``(type, name)`` of the events a round brought."""


def levels(
    targets: Sequence[Audience], references: Callable[[Audience], set[str]]
) -> list[list[Audience]]:
    """``targets`` (of one space, dependencies first) by dependency level: an audience comes
    after every target it is built on (``references`` gives the keys it is built on)."""
    level: dict[str, int] = {}
    out: list[list[Audience]] = []
    for audience in targets:
        mine = 1 + max((level[k] for k in references(audience) if k in level), default=-1)
        level[audience.key] = mine
        while len(out) <= mine:
            out.append([])
        out[mine].append(audience)
    return [found for found in out if found]


class Statements:
    """Compiled real-time SQL, kept per audience version and per set of audiences: compiling
    and combining cost far more than running them over a round's profiles. ``materialized``
    tells a space's event paths whose values identity keeps as rows (read instead of the
    JSON once they are complete); a change of them compiles anew."""

    _KEEP = 64
    """Combined statements kept (a space's levels, a few sets as audiences change)."""

    def __init__(self, materialized: Callable[[str], frozenset[str]] | None = None) -> None:
        self.materialized = materialized or (lambda space: frozenset())
        self._members: dict[tuple[str, int, frozenset[str]], str] = {}
        self._combined: dict[
            tuple[str, tuple[tuple[str, int], ...], frozenset[str]], Statement
        ] = {}

    def members(self, audience: Audience, space: str) -> str:
        """The audience's member query over the pass's profiles, "now" left as
        ``NOW_SENTINEL``."""
        paths = self.materialized(space)
        key = (audience.id, audience.version, paths)
        found = self._members.get(key)
        if found is None:
            found = self._members[key] = compile_members(
                model.from_json(audience.definition), audience.collection, space,
                NOW_SENTINEL, "duckdb", realtime_schema(paths), ONLY_TABLE,
            )  # fmt: skip
        return found

    def _key(
        self, space: str, level: Sequence[Audience]
    ) -> tuple[str, tuple[tuple[str, int], ...], frozenset[str]]:
        return (space, tuple((a.id, a.version) for a in level), self.materialized(space))

    def ready(self, space: str, level: Sequence[Audience]) -> bool:
        """Whether the statement of these audiences is compiled."""
        return self._key(space, level) in self._combined

    def changes(self, space: str, level: Sequence[Audience]) -> Statement:
        """The ``combined.changes`` statement of these audiences."""
        key = self._key(space, level)
        found = self._combined.get(key)
        if found is None:
            if len(self._combined) >= self._KEEP:
                self._combined.clear()
                self._members.clear()
            queries = [self.members(a, space) for a in level]
            keys = [a.key for a in level]
            found = _statement(combined_changes(queries, keys, space, realtime_schema(key[2])))
            self._combined[key] = found
        return found


def _statement(sql: str) -> Statement:
    """A statement with "now" as the parameter ``$1``, if it reads the time at all."""
    sentinel = str(NOW_SENTINEL)
    return Statement(sql.replace(sentinel, "CAST($1 AS BIGINT)"), sentinel in sql)


class RealtimePasses:
    """The real-time passes of an engine; see the module docstring."""

    def __init__(self, engine: AudienceEngine, debounce_s: float) -> None:
        self.engine = engine
        self.debounce_s = debounce_s
        # Late-bound: the service sets the engine's ``materialized`` after building it.
        self.statements = Statements(lambda space: engine.materialized(space))
        self.reader = PassReader(engine.members.store)
        self._dirty: dict[str, set[int]] = {}
        self._kinds: dict[str, Kinds | None] = {}
        self._wake = asyncio.Event()
        self._busy = False
        self._selectors: dict[tuple[str, int], list[tuple[str, str | None]] | None] = {}
        self._shapes: dict[tuple[str, int], tuple[set[str], bool]] = {}
        self._broken: set[tuple[str, int]] = set()
        """Audience versions whose SQL failed in their last pass."""

    def touched(self, space: str, pks: set[int], kinds: Kinds | None = None) -> None:
        """These canonical profiles of ``space`` changed, through events of these kinds only
        (``None``: in any way)."""
        self._dirty.setdefault(space, set()).update(pks)
        if kinds is None or (space in self._kinds and self._kinds[space] is None):
            self._kinds[space] = None
        else:
            known = self._kinds.setdefault(space, set())
            assert known is not None
            known.update(kinds)
        self._wake.set()

    def pending(self) -> bool:
        """Whether touched profiles still wait for a pass."""
        return bool(self._dirty) or self._wake.is_set() or self._busy

    async def run(self) -> None:
        """Pass after pass, as profiles are touched (until cancelled)."""
        behind = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._busy = True
            try:
                # Profiles touched during the last pass waited already: no debounce for them.
                if not behind:
                    await asyncio.sleep(self.debounce_s)
                dirty, self._dirty = self._dirty, {}
                kinds, self._kinds = self._kinds, {}
                for space, pks in dirty.items():
                    await self.evaluate(space, pks, kinds.get(space))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a real-time audience pass failed; the audiences show the error")
            finally:
                self._busy = False
            behind = bool(self._dirty)

    async def close(self) -> None:
        """Release the pass's cursor and thread."""
        await self.reader.close()

    def _targets(self, space: str | None = None) -> list[Audience]:
        """The real-time audiences a pass over ``space`` (any space: ``None``) evaluates."""
        return [
            a
            for a in self.engine.audiences()
            if a.refresh == "realtime"
            and a.status in ("ready", "error")
            and (space is None or space_of(a.workspace_id, a.environment) == space)
            # Objects are not identity profiles: their schedule keeps them current.
            and a.collection in (model.USERS, model.ACCOUNTS)
        ]

    async def warm(self) -> None:
        """Compile the statements the next passes need ahead of them (a hundred audiences
        take a second or two), so that no change waits for that."""
        by_space: dict[str, list[Audience]] = {}
        for audience in self._targets():
            by_space.setdefault(space_of(audience.workspace_id, audience.environment), []).append(
                audience
            )
        for space, targets in by_space.items():
            for level in levels(targets, lambda a: self._shape(a)[0]):
                if not self.statements.ready(space, level):
                    await asyncio.to_thread(self.statements.changes, space, level)

    async def evaluate(self, space: str, pks: set[int], kinds: Kinds | None = None) -> None:
        """One pass over ``space``'s real-time audiences for the profiles ``pks``."""
        targets = self._targets(space)
        # Every target, not only those the round's events can change: one statement costs
        # about the same, and a set of audiences is compiled once, not once per round.
        if not targets or (
            kinds is not None and not any(self._may_change(a, kinds) for a in targets)
        ):
            return
        only = sorted(await self._with_links(space, pks, targets))
        async with contextlib.AsyncExitStack() as stack:
            # One pass holds every target: a full refresh in between would apply its
            # changes twice. Sorted, so two passes can never wait on each other.
            for audience in sorted(targets, key=lambda a: a.id):
                await stack.enter_async_context(self.engine.lock(audience))
            at = int(time.time() * 1000)
            await self.reader.prepare(only)
            done: set[str] = set()
            for level in levels(targets, lambda a: self._shape(a)[0]):
                found = await self._level(space, level, at)
                done.update(a.id for a in level)
                later = frozenset(a.id for a in targets if a.id not in done)
                await self._record(space, level, [found[a.id] for a in level], at, later)

    async def _level(
        self, space: str, level: list[Audience], at: int
    ) -> dict[str, Found | Exception]:
        """A level's changes by audience id: one statement for the audiences that did not
        fail last time, each of the others on its own (so one broken definition neither
        fails nor slows the rest)."""
        healthy = [a for a in level if (a.id, a.version) not in self._broken]
        alone = [a for a in level if (a.id, a.version) in self._broken]
        out: dict[str, Found | Exception] = {}
        if healthy:
            try:
                sql = await asyncio.to_thread(self.statements.changes, space, healthy)
                found = await self.reader.changes(sql, len(healthy), at)
                out.update((a.id, f) for a, f in zip(healthy, found, strict=True))
            except Exception:
                alone += healthy
        for audience in alone:
            try:
                sql = await asyncio.to_thread(self.statements.changes, space, [audience])
                out[audience.id] = (await self.reader.changes(sql, 1, at))[0]
                self._broken.discard((audience.id, audience.version))
            except Exception as exc:
                out[audience.id] = exc
                self._broken.add((audience.id, audience.version))
        return out

    async def _record(
        self, space: str, level: list[Audience], found: list[Found | Exception], at: int,
        later: frozenset[str],
    ) -> None:  # fmt: skip
        """Apply a level's changes in one write, then tell everyone who listens."""
        engine = self.engine
        ok: list[tuple[Audience, Found]] = []
        for audience, result in zip(level, found, strict=True):
            if isinstance(result, Exception):
                await engine.failed(audience, result)
                log.warning("real-time refresh of audience %s failed: %s", audience.key, result)
            else:
                ok.append((audience, result))
        # A re-check that changed nothing writes nothing, unless the audience showed an error.
        record = [(a, f) for a, f in ok if f[0] or f[1] or a.status != "ready"]
        if not record:
            return
        applied = [Applied(a.key, a.version, *f) for a, f in record]
        try:
            sizes = await engine.members.apply_many(space, applied, at)
        except Exception as exc:
            for audience, _ in record:
                await engine.failed(audience, exc)
            log.warning("recording real-time changes in %s failed", space, exc_info=True)
            return

        def stored() -> None:
            for audience, _ in record:
                engine.repo.record_refresh(
                    audience.id, status="ready", error=None, size=sizes[audience.key]
                )

        await asyncio.to_thread(stored)
        engine.invalidate()
        for audience, (entered, exited) in record:
            engine.succeeded(audience)
            if entered or exited:
                await engine.announce(audience, entered, exited, at, later)

    def _may_change(self, audience: Audience, kinds: Kinds) -> bool:
        """Whether events of these kinds can change the audience for the profiles that
        received them (audiences whose conditions are all positive event conditions only
        change through the events they name)."""
        key = (audience.id, audience.version)
        selectors = self._selectors.get(key, ())
        if selectors == ():
            selectors = self._selectors[key] = model.event_selectors(
                model.from_json(audience.definition)
            )
        if selectors is None:
            return True
        return any(
            (kind == "any" or kind == seen_type) and (name is None or name == seen_name)
            for kind, name in selectors
            for seen_type, seen_name in kinds
        )

    def _shape(self, audience: Audience) -> tuple[set[str], bool]:
        """The keys of the audiences it is built on, and whether it has account or users
        conditions (read once per version: every pass asks)."""
        key = (audience.id, audience.version)
        found = self._shapes.get(key)
        if found is None:
            node = model.from_json(audience.definition)
            linked = any(isinstance(n, model.Account | model.Users) for n in model.walk(node))
            found = self._shapes[key] = (model.references(node), linked)
        return found

    async def _with_links(self, space: str, pks: set[int], targets: list[Audience]) -> set[int]:
        if not pks or not any(self._shape(a)[1] for a in targets):
            return pks
        rows = await self.engine.members.linked(space, sorted(pks))
        return pks | rows
