"""``/api/v1/spaces/{space}/computed-traits``: define, list, read and delete computed traits."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from shoal.control.repo import NotFound
from shoal.identity.computed import ComputedTrait
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.identity import identity_of, require_owner

router = APIRouter(prefix="/spaces/{space}/computed-traits", tags=["computed traits"])


class TraitList(BaseModel):
    computed_traits: list[ComputedTrait]


@router.get("", response_model=TraitList)
def list_traits(space: str, runtime: RuntimeDep, user: UserDep) -> TraitList:
    """The space's computed traits, by key."""
    return TraitList(computed_traits=identity_of(runtime).traits(user.workspace_id, space))


@router.post("", response_model=ComputedTrait, status_code=201)
async def create_trait(
    space: str, body: ComputedTrait, runtime: RuntimeDep, user: UserDep
) -> ComputedTrait:
    """Define a trait; existing profiles get their value before this answers."""
    require_owner(user)
    return await identity_of(runtime).create_trait(user.workspace_id, space, body)


@router.get("/{key}", response_model=ComputedTrait)
def get_trait(space: str, key: str, runtime: RuntimeDep, user: UserDep) -> ComputedTrait:
    """One definition."""
    for trait in identity_of(runtime).traits(user.workspace_id, space):
        if trait.key == key:
            return trait
    raise NotFound(f"no computed trait {key!r} in {space}")


@router.delete("/{key}", status_code=204)
async def delete_trait(space: str, key: str, runtime: RuntimeDep, user: UserDep) -> Response:
    """Remove a definition and its values from every profile."""
    require_owner(user)
    await identity_of(runtime).delete_trait(user.workspace_id, space, key)
    return Response(status_code=204)
