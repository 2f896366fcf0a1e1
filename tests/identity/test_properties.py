"""Properties: replays change nothing, and resolution does not depend on batching or process."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.identity.identifiers import raw_identifiers
from shoal.identity.rules import CompiledSettings, out_of_the_box
from shoal.spec.normalize import NormalizedEvent
from tests.identity.helpers import WS, event, identity, spec_fields

SPACE = f"{WS}:dev"
_message = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["identify", "track", "page"]),
        "userId": st.none() | st.sampled_from(["u0", "u1", "u2"]),
        "anonymousId": st.sampled_from(["a0", "a1", "a2", "a3", "a4"]),
        "email": st.none() | st.sampled_from(["e0@x.io", "e1@x.io"]),
        "plan": st.none() | st.sampled_from(["free", "pro"]),
    }
)


def _events(specs: list[dict[str, Any]]) -> list[NormalizedEvent]:
    return [
        event(spec["type"], ts=1_000 + n, message_id=f"msg-{n}",
              **spec_fields(spec, ("email", "plan")))
        for n, spec in enumerate(specs)
    ]  # fmt: skip


async def _run(root: Path, specs: list[dict[str, Any]], cuts: list[int], mode: str) -> Any:
    """Resolve in the rounds ``cuts`` makes: each committed before the next (``rounds``),
    with a new service per round (``restarts``), or as the pipeline drives the stage, the
    next round resolved while the previous one's write commits (``pipelined``)."""
    events = _events(specs)
    bounds = sorted({c % (len(events) + 1) for c in cuts} | {0, len(events)})
    rounds = [events[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    async with identity(root) as svc:
        pending: Any = None
        for index, chunk in enumerate(rounds):
            if mode == "restarts" and index:
                svc.stage.forget()
            if mode == "pipelined":
                waiter = await svc.stage.process(chunk)
                if pending is not None:
                    await pending
                pending = waiter
            else:
                await svc.stage.process_committed(chunk)
        if pending is not None:
            await pending
        return await _snapshot(svc, events)


async def _snapshot(svc: Any, events: list[NormalizedEvent]) -> Any:
    rules = CompiledSettings(out_of_the_box())
    owners: dict[tuple[str, str], str | None] = {}
    traits: dict[str, Any] = {}
    timeline: dict[str, int] = {}
    for ev in events:
        for collection, id_type, value in raw_identifiers(ev.message, rules):
            pk = await svc.store.canonical(SPACE, collection, id_type, value)
            profile = None if pk is None else await svc.store.profile(SPACE, pk)
            owners[(id_type, value)] = None if profile is None else profile.id
            if profile is not None:
                traits[profile.id] = {k: v[0] for k, v in profile.traits.items()}
                page = await svc.store.events(SPACE, profile.pk, limit=1000)
                timeline[profile.id] = len(page.events)
    return [ev.profile_id for ev in events], owners, traits, timeline


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    specs=st.lists(_message, min_size=1, max_size=25),
    cuts=st.lists(st.integers(0, 30), max_size=5),
    mode=st.sampled_from(["rounds", "restarts", "pipelined"]),
)
def test_batching_and_process_do_not_change_the_result(
    specs: list[dict[str, Any]], cuts: list[int], mode: str
) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        whole = asyncio.run(_run(Path(one), specs, [], "rounds"))
        split = asyncio.run(_run(Path(two), specs, cuts, mode))
    assert whole == split


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs=st.lists(_message, min_size=1, max_size=20), cold=st.booleans())
def test_replaying_the_same_messages_changes_nothing(
    specs: list[dict[str, Any]], cold: bool
) -> None:
    async def scenario(root: Path) -> tuple[Any, Any]:
        async with identity(root) as svc:
            events = _events(specs)
            await svc.stage.process_committed(events)
            before = await _snapshot(svc, events)
            if cold:
                svc.stage.forget()  # as after a restart
            again = _events(specs)
            await svc.stage.process_committed(again)
            # Events keep the profile they resolved to at the time (a later merge moves the
            # profile, not the event), so compare the graph, traits and timelines.
            return before[1:], (await _snapshot(svc, again))[1:]

    with tempfile.TemporaryDirectory() as root:
        before, after = asyncio.run(scenario(Path(root)))
    assert before == after
