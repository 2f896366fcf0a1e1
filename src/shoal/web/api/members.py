"""``/api/v1/members``: the workspace's users; owners add members and owners."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from shoal.control import User
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(prefix="/members", tags=["members"])


class MemberIn(BaseModel):
    """A new user of the workspace; the answer carries their first API token."""

    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(default="", max_length=200)
    role: Literal["owner", "member"] = "member"


def member_view(user: User) -> dict[str, Any]:
    """A user as the API shows them."""
    created = user.created_at if user.created_at.tzinfo else user.created_at.replace(tzinfo=UTC)
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "created_at": created.isoformat().replace("+00:00", "Z"),
    }


@router.get("")
def list_members(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Everyone in the workspace, oldest first."""
    return {"members": [member_view(u) for u in runtime.control.list_users(user.workspace_id)]}


@router.post("", status_code=201)
def add_member(body: MemberIn, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Add a user and issue their API token (shown only in this answer)."""
    if user.role != "owner":
        raise ApiError(
            403, "forbidden", f"only a workspace owner can add members; {user.email} is a member"
        )
    added = runtime.control.create_user(
        user.workspace_id, body.email, body.name or body.email.split("@")[0], body.role
    )
    token = runtime.control.create_token(added.id, f"added by {user.email} on {_today()}")
    return {**member_view(added), "token": token}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()
