"""Typed access to the control plane; the Config API, the CLI and the edge all go through it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from shoal.control import tables as t
from shoal.control.secrets import hash_token, new_api_token, new_id, new_write_key

SOURCE_TYPES = ("website", "mobile", "server", "http", "audiences")
ENVIRONMENTS = ("dev", "prod")
ROLES = ("owner", "member")


class NotFound(LookupError):
    """The named object does not exist in this workspace."""


class Conflict(ValueError):
    """The change would break a uniqueness rule (e.g. two sources with one name)."""


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    id: str
    workspace_id: str
    email: str
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    workspace_id: str
    name: str
    type: str
    environment: str
    write_key: str
    enabled: bool
    rate_limit: float | None
    created_at: datetime
    updated_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class ControlPlane:
    """Workspaces, members, tokens and sources in one SQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._listeners: list[Callable[[], None]] = []

    def migrate(self) -> None:
        """Bring the schema to the newest alembic revision."""
        config = Config()
        config.set_main_option("script_location", str(files("shoal.control") / "migrations"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def on_sources_changed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after any change to sources (the edge caches write keys)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- workspace, members, tokens ---------------------------------------------------------

    def bootstrap(self, admin_token: str | None = None) -> tuple[Workspace, User, str] | None:
        """On an empty database create a workspace, its owner and the owner's token.

        Returns ``(workspace, owner, token)`` the first time and ``None`` afterwards; the
        token is only ever shown then, as only its hash is kept.
        """
        with self.engine.begin() as conn:
            if conn.execute(select(t.workspaces.c.id).limit(1)).first() is not None:
                return None
            now = _now()
            workspace = Workspace(new_id("ws"), "My workspace", now)
            owner = User(new_id("usr"), workspace.id, "owner@localhost", "Owner", "owner", now)
            conn.execute(insert(t.workspaces).values(**_fields(workspace)))
            conn.execute(insert(t.users).values(**_fields(owner)))
        token = self.create_token(owner.id, "first start", admin_token)
        return workspace, owner, token

    def create_token(self, user_id: str, name: str, token: str | None = None) -> str:
        """Issue an API token for ``user_id`` (or register the given one) and return it."""
        token = token or new_api_token()
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.api_tokens).values(
                    id=new_id("tok"),
                    user_id=user_id,
                    name=name,
                    token_hash=hash_token(token),
                    created_at=_now(),
                )
            )
        return token

    def authenticate(self, token: str) -> User | None:
        """The user a token belongs to, or ``None``."""
        query = (
            select(t.users)
            .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
            .where(t.api_tokens.c.token_hash == hash_token(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return User(**row) if row else None

    def workspace(self, workspace_id: str) -> Workspace:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t.workspaces).where(t.workspaces.c.id == workspace_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"workspace {workspace_id} does not exist")
        return Workspace(**row)

    def owner(self, workspace_id: str | None = None) -> User:
        """The (first) owner of a workspace, or of the only workspace."""
        query = select(t.users).where(t.users.c.role == "owner").order_by(t.users.c.created_at)
        if workspace_id is not None:
            query = query.where(t.users.c.workspace_id == workspace_id)
        with self.engine.connect() as conn:
            row = conn.execute(query.limit(1)).mappings().first()
        if row is None:
            raise NotFound("no workspace owner exists yet; start `shoal serve` once")
        return User(**row)

    def create_user(self, workspace_id: str, email: str, name: str, role: str) -> User:
        """Add a user (``owner`` or ``member``) to a workspace."""
        _check_choice("role", role, ROLES)
        user = User(new_id("usr"), workspace_id, email, name, role, _now())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.users).values(**_fields(user)))
        except IntegrityError as exc:
            raise Conflict(f"{email} is already a user of this workspace") from exc
        return user

    def list_users(self, workspace_id: str) -> list[User]:
        """Users of a workspace, oldest first."""
        query = (
            select(t.users)
            .where(t.users.c.workspace_id == workspace_id)
            .order_by(t.users.c.created_at, t.users.c.id)
        )
        with self.engine.connect() as conn:
            return [User(**row) for row in conn.execute(query).mappings()]

    # -- sources ------------------------------------------------------------------------------

    def list_sources(
        self, workspace_id: str | None, environment: str | None = None
    ) -> list[Source]:
        """Sources of a workspace (all workspaces when ``None``), oldest first."""
        query = select(t.sources).order_by(t.sources.c.created_at, t.sources.c.id)
        if workspace_id is not None:
            query = query.where(t.sources.c.workspace_id == workspace_id)
        if environment is not None:
            query = query.where(t.sources.c.environment == environment)
        with self.engine.connect() as conn:
            return [Source(**row) for row in conn.execute(query).mappings()]

    def get_source(self, workspace_id: str, source_id: str) -> Source:
        query = select(t.sources).where(
            t.sources.c.id == source_id, t.sources.c.workspace_id == workspace_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"source {source_id} does not exist in this workspace")
        return Source(**row)

    def create_source(
        self,
        workspace_id: str,
        name: str,
        type: str,
        environment: str,
        *,
        enabled: bool = True,
        rate_limit: float | None = None,
    ) -> Source:
        """Create a source with a fresh write key."""
        _check_choice("type", type, SOURCE_TYPES)
        _check_choice("environment", environment, ENVIRONMENTS)
        now = _now()
        source = Source(
            new_id("src"),
            workspace_id,
            name,
            type,
            environment,
            new_write_key(),
            enabled,
            rate_limit,
            now,
            now,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.sources).values(**_fields(source)))
        except IntegrityError as exc:
            raise Conflict(
                f"a {environment} source named {name!r} already exists in this workspace"
            ) from exc
        self._changed()
        return source

    def update_source(self, workspace_id: str, source_id: str, **changes: Any) -> Source:
        """Change name, type, environment, enabled or rate_limit."""
        allowed = {"name", "type", "environment", "enabled", "rate_limit"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a source")
        if "type" in changes:
            _check_choice("type", changes["type"], SOURCE_TYPES)
        if "environment" in changes:
            _check_choice("environment", changes["environment"], ENVIRONMENTS)
        self.get_source(workspace_id, source_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.sources)
                    .where(t.sources.c.id == source_id)
                    .values(**changes, updated_at=_now())
                )
        except IntegrityError as exc:
            raise Conflict("another source in that environment already has this name") from exc
        self._changed()
        return self.get_source(workspace_id, source_id)

    def rotate_write_key(self, workspace_id: str, source_id: str) -> Source:
        """Replace the write key; the old one stops working at once."""
        self.get_source(workspace_id, source_id)
        with self.engine.begin() as conn:
            conn.execute(
                update(t.sources)
                .where(t.sources.c.id == source_id)
                .values(write_key=new_write_key(), updated_at=_now())
            )
        self._changed()
        return self.get_source(workspace_id, source_id)

    def delete_source(self, workspace_id: str, source_id: str) -> None:
        """Delete a source; its stored events stay in the event store."""
        self.get_source(workspace_id, source_id)
        with self.engine.begin() as conn:
            conn.execute(delete(t.sources).where(t.sources.c.id == source_id))
        self._changed()

    def close(self) -> None:
        self.engine.dispose()


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(choices)}, not {value!r}")
