"""Audiences as the API, the CLI and the web app use them: define, preview, explain, refresh.

Definitions arrive as the JSON tree or the text form; both are validated against the
collection, the referenced audiences (which must exist, without cycles) and the space's
object collections before anything is saved. Reads honour visibility: an audience hidden
from a member does not exist for that member.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from typing import Any

from shoal.audiences import model
from shoal.audiences.compiler import compile_count, compile_explain, compile_members
from shoal.audiences.embedded import EmbeddedSchema, embedded_schema
from shoal.audiences.emit import Emitter
from shoal.audiences.engine import AudienceEngine, Outcome, now_ms, space_for
from shoal.audiences.members import MembershipStore, object_pk
from shoal.audiences.repo import (
    DEFAULT_INTERVAL_S,
    MIN_INTERVAL_S,
    REFRESH_MODES,
    Audience,
    AudienceRepo,
    Conflict,
    NotFound,
)
from shoal.control.repo import ControlPlane, User
from shoal.identity import IdentityService
from shoal.identity.identifiers import parse_profile_id, profile_id
from shoal.identity.repo import check_space
from shoal.identity.stage import space_of
from shoal.queue import Queue

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_COLLECTION = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


class Invalid(ValueError):
    """A request that cannot be carried out as given (the API answers 400/422)."""


def key_from(name: str) -> str:
    """Segment's audience key for a display name ("High Value" → ``high_value``)."""
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if not key or not key[0].isalpha():
        key = "audience_" + key
    return key[:100]


def parse_definition(definition: Any, collection: str) -> tuple[model.Condition, str]:
    """The tree and canonical text of a definition given as text or JSON."""
    from shoal.audiences.text import parse, to_text

    node = parse(definition) if isinstance(definition, str) else model.from_json(definition)
    model.validate(node, collection)
    return node, to_text(node)


class AudienceService:
    """See the module docstring."""

    def __init__(
        self,
        control: ControlPlane,
        members: MembershipStore,
        queue: Queue,
        identity: IdentityService,
        *,
        time_recheck_s: float = 300.0,
    ) -> None:
        self.control = control
        self.repo = AudienceRepo(control)
        self.members = members
        self.identity = identity
        self.emitter = Emitter(control, queue, members)
        self.engine = AudienceEngine(
            self.repo, members, self.emitter, time_recheck_s=time_recheck_s
        )
        identity.listeners.append(self.engine.touched)
        self.engine.materialized = identity.store.values.ready
        identity.store.values.on_ready.append(lambda space: self.engine.invalidate())

    async def start(self) -> None:
        """Create the tables and start refreshing; materialize the event values saved
        audiences read (audiences saved before values were materialized included)."""
        await self.engine.start()
        for audience in await asyncio.to_thread(self.repo.all):
            await self._materialize(audience)

    async def stop(self) -> None:
        """Stop refreshing (and materializing)."""
        await self.engine.stop()
        await self.identity.store.values.stop()

    async def _materialize(self, audience: Audience) -> None:
        paths = model.materializable_paths(model.from_json(audience.definition))
        if paths:
            await self.identity.store.values.materialize(space_for(audience), paths)

    def schema(self, workspace_id: str, environment: str) -> EmbeddedSchema:
        """The embedded schema of a space, with its materialized values."""
        return embedded_schema(
            self.repo.object_collections(workspace_id, environment),
            self.identity.store.values.ready(space_of(workspace_id, environment)),
        )

    # -- definitions ------------------------------------------------------------------------

    def collections(self, workspace_id: str, environment: str) -> dict[str, str]:
        """Collections audiences can be built over: users, accounts and object collections
        (with the event property that carries their id)."""
        objects = self.repo.object_collections(workspace_id, environment)
        return {model.USERS: "", model.ACCOUNTS: "", **objects}

    def _check(
        self, workspace_id: str, environment: str, collection: str, node: model.Condition,
        key: str | None,
    ) -> None:  # fmt: skip
        if collection not in self.collections(workspace_id, environment):
            raise Invalid(
                f"unknown collection {collection!r}: use users, accounts or a declared object "
                "collection (POST /api/v1/spaces/{space}/collections)"
            )
        refs = model.references(node)
        if key is not None and key in refs:
            raise Invalid("an audience cannot include itself")
        known = {a.key: a for a in self.repo.all(workspace_id, environment)}
        for ref in refs:
            if ref not in known:
                raise Invalid(f"audience({ref!r}) does not exist in this space")
        if key is None:
            return
        # A cycle: some referenced audience (transitively) refers back to this one.
        seen: set[str] = set()
        todo = list(refs)
        while todo:
            current = todo.pop()
            if current == key:
                raise Invalid(f"audience({key!r}) would depend on itself through {sorted(refs)}")
            if current in seen or current not in known:
                continue
            seen.add(current)
            todo.extend(model.references(model.from_json(known[current].definition)))

    def _refresh_policy(self, refresh: Any, interval_s: int | None) -> tuple[str, int]:
        mode = refresh or "realtime"
        if mode not in REFRESH_MODES:
            raise Invalid(f"refresh is one of {', '.join(REFRESH_MODES)}, not {mode!r}")
        interval = DEFAULT_INTERVAL_S if interval_s is None else interval_s
        if interval < MIN_INTERVAL_S:
            raise Invalid(f"the refresh interval is at least {MIN_INTERVAL_S} seconds")
        return mode, interval

    async def create(self, user: User, environment: str, body: dict[str, Any]) -> Audience:
        """Save a new audience and start its first computation (in the background)."""
        check_space(environment)
        collection = body.get("collection") or model.USERS
        node, text = parse_definition(body["definition"], collection)
        key = body.get("key") or key_from(body["name"])
        if not _KEY.match(key):
            raise Invalid("a key is snake_case: a-z, 0-9 and _, starting with a letter")
        await asyncio.to_thread(self._check, user.workspace_id, environment, collection, node, key)
        mode, interval = self._refresh_policy(body.get("refresh"), body.get("interval_s"))
        values = {
            "workspace_id": user.workspace_id,
            "environment": environment,
            "key": key,
            "name": body["name"],
            "description": body.get("description") or "",
            "collection": collection,
            "definition": model.to_builtins(node),
            "refresh": mode,
            "interval_s": interval,
            "emit_events": bool(body.get("emit_events", True)),
            "hidden_from": list(body.get("hidden_from") or []),
            "created_by": user.id,
        }
        if values["emit_events"] and collection == model.USERS:
            # The Audiences source exists from the first audience on, so destinations can be
            # connected to it before any change is sent.
            await asyncio.to_thread(self.emitter.source_id, user.workspace_id, environment)
        audience = await asyncio.to_thread(self.repo.create, values, text)
        await self._materialize(audience)
        self.engine.invalidate()
        return audience

    async def update(self, user: User, audience_id: str, body: dict[str, Any]) -> Audience:
        """Change an audience; a changed definition is a new version, recomputed at once."""
        audience = self.get(user, audience_id)
        values: dict[str, Any] = {}
        text = None
        if body.get("definition") is not None:
            node, text = parse_definition(body["definition"], audience.collection)
            await asyncio.to_thread(
                self._check, user.workspace_id, audience.environment, audience.collection, node,
                audience.key,
            )  # fmt: skip
            definition = model.to_builtins(node)
            if definition == audience.definition:
                text = None
            else:
                values["definition"] = definition
        for name in ("name", "description", "emit_events", "hidden_from"):
            if body.get(name) is not None:
                values[name] = body[name]
        if body.get("refresh") is not None or body.get("interval_s") is not None:
            values["refresh"], values["interval_s"] = self._refresh_policy(
                body.get("refresh") or audience.refresh,
                body.get("interval_s") or audience.interval_s,
            )
        updated = await asyncio.to_thread(self.repo.update, audience, values, text, user.id)
        await self._materialize(updated)
        self.engine.invalidate()
        return updated

    def get(self, user: User, audience_id: str) -> Audience:
        """An audience the user may see (``NotFound`` otherwise)."""
        audience = self.repo.get(user.workspace_id, audience_id)
        if user.id in audience.hidden_from:
            raise NotFound(f"Audience was not found: {audience_id!r}.")
        return audience

    def visible(self, user: User, environment: str | None) -> list[Audience]:
        """The audiences the user may see."""
        if environment is not None:
            check_space(environment)
        return [
            a for a in self.repo.all(user.workspace_id, environment) if user.id not in a.hidden_from
        ]

    async def delete(self, user: User, audience_id: str) -> None:
        """Remove an audience (refused while another audience includes it)."""
        audience = self.get(user, audience_id)
        users = [
            a.key
            for a in self.repo.all(user.workspace_id, audience.environment)
            if audience.key in model.references(model.from_json(a.definition))
        ]
        if users:
            raise Conflict(
                f"audiences {', '.join(sorted(users))} include this one; change them first"
            )
        await asyncio.to_thread(self.repo.delete, audience)
        await self.members.forget(space_for(audience), audience.key)
        self.engine.invalidate()

    # -- evaluation -------------------------------------------------------------------------

    async def refresh(self, user: User, audience_id: str) -> Outcome:
        """Recompute now (the result is cached and served until the next refresh)."""
        return await self.engine.refresh(self.get(user, audience_id))

    async def preview(
        self, user: User, environment: str, collection: str, definition: Any, sample: int = 20
    ) -> dict[str, Any]:
        """Exact count and a sample of a definition, without saving anything."""
        check_space(environment)
        node, text = parse_definition(definition, collection)
        await asyncio.to_thread(self._check, user.workspace_id, environment, collection, node, None)
        space = space_of(user.workspace_id, environment)
        schema = self.schema(user.workspace_id, environment)
        at = now_ms()
        count_sql = compile_count(node, collection, space, at, "duckdb", schema)
        members_sql = compile_members(
            node, collection, space, at, "duckdb", schema, limit=max(0, min(sample, 100))
        )
        count = (await self.members.query(count_sql))[0][0]
        rows = await self.members.query(members_sql)
        pks = [int(r[0]) for r in rows]
        return {
            "count": int(count),
            "sample": await self.summaries(space, collection, pks),
            "text": text,
            "definition": model.to_builtins(node),
            "computed_at": at,
        }

    async def explain(
        self, user: User, environment: str, collection: str, definition: Any, ref: str
    ) -> dict[str, Any]:
        """For one profile: every condition's truth and observed value."""
        from shoal.audiences.text_format import to_text

        check_space(environment)
        node, text = parse_definition(definition, collection)
        space = space_of(user.workspace_id, environment)
        pk = await self.resolve(space, collection, ref)
        schema = self.schema(user.workspace_id, environment)
        sql, nodes = compile_explain(node, collection, space, now_ms(), "duckdb", pk, schema)
        rows = await self.members.query(sql)
        if not rows:
            raise NotFound(f"{ref} is not a {collection} profile of this space")
        row = rows[0]
        conditions = []
        for i, part in enumerate(nodes):
            value = row[2 * i + 1]
            conditions.append(
                {
                    "condition": to_text(part),
                    "kind": type(part).__name__.lower(),
                    "result": bool(row[2 * i]),
                    "value": value
                    if isinstance(value, str | int | float | bool) or value is None
                    else str(value),
                    "depth": _depth(node, part),
                }
            )
        summary = (await self.summaries(space, collection, [pk]))[0]
        return {"profile": summary, "member": bool(row[0]), "text": text, "conditions": conditions}

    async def resolve(self, space: str, collection: str, ref: str) -> int:
        """A profile's number from ``id_type:value``, a public profile id or an object id."""
        if collection not in (model.USERS, model.ACCOUNTS):
            return object_pk(space, collection, ref.removeprefix("id:"))
        parsed = parse_profile_id(ref)
        if parsed is not None and parsed[0] == collection:
            return parsed[1]
        id_type, sep, value = ref.partition(":")
        if not sep or not value:
            raise Invalid("name the profile as <id_type>:<value> (email:jane@example.com) or by id")
        pk = await self.identity.store.canonical(space, collection, id_type.lower(), value)
        if pk is None:
            raise NotFound(f"no {collection} profile has {ref}")
        return pk

    async def summaries(self, space: str, collection: str, pks: list[int]) -> list[dict[str, Any]]:
        """Public ids, identifiers and traits of profiles (or objects), in ``pks`` order."""
        if collection not in (model.USERS, model.ACCOUNTS):
            ids = await self.members.object_ids(pks)
            out = []
            for pk in pks:
                found = await self.members.get_object(space, collection, ids.get(pk, ""))
                out.append(
                    {"id": ids.get(pk), **({"attributes": found["attributes"]} if found else {})}
                )
            return out
        idents = await self.members.identifiers(pks)
        traits = await self.members.traits(pks)
        return [
            {
                "id": profile_id(collection, pk),
                "identifiers": idents.get(pk, {}),
                "traits": traits.get(pk, {}),
            }
            for pk in pks
        ]

    # -- results -------------------------------------------------------------------------------

    async def member_page(
        self, user: User, audience_id: str, limit: int, cursor: int | None
    ) -> dict[str, Any]:
        """A page of the cached members with their identifiers and traits."""
        audience = self.get(user, audience_id)
        space = space_for(audience)
        pks = await self.members.members(space, audience.key, limit + 1, cursor)
        more = len(pks) > limit
        pks = pks[:limit]
        return {
            "members": await self.summaries(space, audience.collection, pks),
            "cursor": {"has_more": more, "next": str(pks[-1]) if more and pks else None},
            "size": audience.size,
            "computed_at": audience.computed_at,
        }

    async def history(self, user: User, audience_id: str, limit: int) -> dict[str, Any]:
        """Membership changes and size over time."""
        audience = self.get(user, audience_id)
        space = space_for(audience)
        changes = await self.members.history(space, audience.key, None, limit)
        pks = list(dict.fromkeys(c.profile_id for c in changes))
        names = {
            pk: s["id"]
            for pk, s in zip(
                pks, await self.summaries(space, audience.collection, pks), strict=True
            )
        }
        return {
            "changes": [
                {
                    "profile": names.get(c.profile_id),
                    "change": c.change,
                    "at": c.at,
                    "version": c.version,
                }
                for c in changes
            ],
            "sizes": await self.members.sizes(space, audience.key, 500),
        }

    def versions(self, user: User, audience_id: str) -> list[dict[str, Any]]:
        """Every definition version with its text and the difference from the one before."""
        audience = self.get(user, audience_id)
        out: list[dict[str, Any]] = []
        previous = ""
        for v in self.repo.versions(audience.id):
            diff = difflib.unified_diff(
                previous.splitlines(), v.text.splitlines(), f"v{v.version - 1}", f"v{v.version}",
                lineterm="",
            )  # fmt: skip
            out.append(
                {
                    "version": v.version,
                    "text": v.text,
                    "definition": v.definition,
                    "created_at": v.created_at,
                    "created_by": v.created_by,
                    "diff": "\n".join(diff) if v.version > 1 else "",
                }
            )
            previous = v.text
        return out

    async def profile_audiences(self, space: str, pk: int) -> list[dict[str, Any]]:
        """The audiences a profile is in (for the Profile API and the explorer)."""
        return [
            {"key": k, "entered_at": at} for k, at in await self.members.memberships_of(space, pk)
        ]

    # -- lists, tags and objects ------------------------------------------------------------

    async def set_list(
        self, user: User, environment: str, collection: str, kind: str, name: str,
        add: list[str], remove: list[str],
    ) -> dict[str, Any]:  # fmt: skip
        """Add and remove profiles (by identifier) of a static list or tag."""
        check_space(environment)
        if kind not in ("list", "tag") or not name or len(name) > 200:
            raise Invalid("a list or tag needs a name of 1-200 characters")
        space = space_of(user.workspace_id, environment)
        missing: list[str] = []

        async def pks(refs: list[str]) -> list[int]:
            out = []
            for ref in refs:
                try:
                    out.append(await self.resolve(space, collection, ref))
                except NotFound:
                    missing.append(ref)
            return out

        size = await self.members.set_list(
            space, collection, kind, name, await pks(add), await pks(remove), now_ms()
        )
        self.engine.touched(space, set())
        return {"kind": kind, "name": name, "size": size, "not_found": missing}

    def save_collection(
        self, user: User, environment: str, name: str, id_property: str
    ) -> dict[str, str]:
        """Declare an object collection (products, deals, tickets, …)."""
        check_space(environment)
        if not _COLLECTION.match(name) or name in (model.USERS, model.ACCOUNTS):
            raise Invalid("a collection name is snake_case and not 'users' or 'accounts'")
        if not id_property or len(id_property) > 200:
            raise Invalid("id_property names the event property carrying the object's id")
        self.repo.save_collection(user.workspace_id, environment, name, id_property)
        self.engine.invalidate()
        return {"name": name, "id_property": id_property}

    async def upsert_objects(
        self,
        user: User,
        environment: str,
        collection: str,
        objects: list[tuple[str, dict[str, Any]]],
    ) -> int:
        """Create or update objects of a declared collection."""
        check_space(environment)
        if collection not in self.repo.object_collections(user.workspace_id, environment):
            raise NotFound(f"Object collection was not found: {collection!r}.")
        space = space_of(user.workspace_id, environment)
        await self.members.upsert_objects(space, collection, objects, now_ms())
        return len(objects)


def _depth(root: model.Condition, target: model.Condition) -> int:
    def find(node: model.Condition, depth: int) -> int | None:
        if node is target:
            return depth
        for child in _direct(node):
            found = find(child, depth + 1)
            if found is not None:
                return found
        return None

    return find(root, 0) or 0


def _direct(node: model.Condition) -> list[model.Condition]:
    if isinstance(node, model.All):
        return list(node.all)
    if isinstance(node, model.AnyOf):
        return list(node.any)
    if isinstance(node, model.Not):
        return [node.not_]
    return []
