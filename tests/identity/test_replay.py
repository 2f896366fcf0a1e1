"""Re-resolution rebuilds profiles from stored events with the current rules: the whole space,
or only some profiles (and what shares identifiers with them) while everyone else stays."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.control.repo import NotFound
from shoal.identity import IdentityService, affected
from shoal.identity.affected import ReplayRefused
from shoal.identity.identifiers import parse_profile_id, profile_id
from shoal.identity.profile_tables import PROFILE_TABLES
from shoal.identity.replay import replay
from shoal.identity.replay_profiles import MAX_NAMED, replay_profiles
from shoal.identity.rules import BlockedValue, IdentifierRule, IdentitySettings, out_of_the_box
from shoal.pipeline import EventHub, Pipeline
from shoal.queue import open_queue
from shoal.spec.envelope import ENVELOPE_ENCODER, Envelope
from shoal.spec.normalize import NormalizedEvent
from tests.identity.helpers import WS, event, identity, spec_fields

SPACE = f"{WS}:dev"


async def _ingest(svc: IdentityService, events: list[NormalizedEvent]) -> None:
    """What the pipeline does with a round: resolve, then store."""
    await svc.stage.process_committed(events)
    await svc.store.store.write(events)


def _rules(**changes: Any) -> IdentitySettings:
    """The out-of-the-box rules with ``type → {field: value}`` changes, plus new rules."""
    added: list[IdentifierRule] = changes.pop("added", [])
    rules = [
        r.model_copy(update=changes[r.type]) if r.type in changes else r
        for r in out_of_the_box().identifiers
    ]
    return IdentitySettings(identifiers=[*rules, *added])


async def _pk(svc: IdentityService, id_type: str, value: str) -> int | None:
    return await svc.store.canonical(SPACE, "users", id_type, value)


async def _rows(svc: IdentityService, pks: set[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every per-profile table that names one of ``pks``, write times included
    (each row starts with its profile-number columns)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, columns in PROFILE_TABLES:
        where = " OR ".join(f"{c} IN (SELECT unnest(?::BIGINT[]))" for c in columns)
        rows = await svc.store.store.query(
            f"SELECT {', '.join(columns)}, * FROM {table} WHERE {where}",
            [sorted(pks)] * len(columns),
        )
        out[table] = sorted(rows, key=repr)
    return out


def _blocked(id_type: str, value: str) -> list[BlockedValue]:
    rule = out_of_the_box().rule(id_type, "users")
    assert rule is not None
    return [*rule.blocked, BlockedValue(value=value)]


async def _members(svc: IdentityService, pk: int) -> set[int]:
    return set(await svc.store.members(SPACE, pk)) | {pk}


async def _stored(svc: IdentityService) -> dict[str, str | None]:
    rows = await svc.store.store.query("SELECT message_id, profile_id FROM events")
    return dict(rows)


async def test_new_rules_apply_to_history_after_replay(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        events = [
            event("identify", userId="u1", anonymousId="kiosk", ts=1_000),
            event("identify", userId="u2", anonymousId="kiosk", ts=2_000),
        ]
        await _ingest(svc, events)
        assert events[0].profile_id != events[1].profile_id  # user_id limit 1
        # Allow two user ids per profile: only history replayed through resolution merges.
        svc.save(WS, "dev", _rules(user_id={"limit": 2}))
        assert await _pk(svc, "user_id", "u1") != await _pk(svc, "user_id", "u2")
        result = await replay(svc, WS, "dev")
        assert result.events == 2 and result.profiles == 1
        one = await _pk(svc, "user_id", "u1")
        assert one is not None and one == await _pk(svc, "user_id", "u2")
        stored = await svc.store.store.query("SELECT DISTINCT profile_id FROM events")
        assert len(stored) == 1 and stored[0][0] is not None
        page = await svc.store.events(SPACE, one, limit=10)
        assert len(page.events) == 2


async def test_a_newly_blocked_value_leaves_one_user_and_spares_the_other(tmp_path: Path) -> None:
    """The spec's example: both users typed a placeholder email. Blocking it and
    re-resolving Jane drops it from her profile; Bob's profile is not touched at all."""
    async with identity(tmp_path) as svc:
        await _ingest(
            svc,
            [
                event("identify", userId="jane", traits={"email": "none@none.io"}, ts=1_000),
                event("track", userId="jane", event="Order Completed", ts=2_000),
                event("identify", userId="bob", traits={"email": "none@none.io"}, ts=3_000),
                event("page", userId="bob", name="Home", ts=4_000),
            ],
        )
        jane, bob = await _pk(svc, "user_id", "jane"), await _pk(svc, "user_id", "bob")
        assert jane is not None and bob is not None and jane != bob
        bob_rows, stored = await _rows(svc, await _members(svc, bob)), await _stored(svc)
        # The email was demoted on Bob's identify (user_id limit 1), so only Jane holds it.
        assert await _pk(svc, "email", "none@none.io") == jane

        svc.save(WS, "dev", _rules(email={"blocked": _blocked("email", "none@none.io")}))
        result = await replay_profiles(svc, WS, "dev", ["user_id:jane"])

        assert result.events == 2 and result.profiles == 1 and result.merges == 0
        assert result.named == {"user_id:jane": profile_id("users", jane)}
        assert result.removed == result.resolved == [profile_id("users", jane)]
        assert await _pk(svc, "user_id", "jane") == jane  # ids derive from messages
        assert await _pk(svc, "email", "none@none.io") is None
        profile = await svc.store.profile(SPACE, jane)
        assert profile is not None
        assert {(m.type, m.value) for m in profile.mappings} == {("user_id", "jane")}
        assert profile.traits["email"][0] == "none@none.io"  # still a trait, not an id
        assert len((await svc.store.events(SPACE, jane, limit=10)).events) == 2
        assert await _rows(svc, await _members(svc, bob)) == bob_rows
        assert await _stored(svc) == stored


async def test_a_new_custom_identifier_joins_one_person_and_spares_the_rest(
    tmp_path: Path,
) -> None:
    """A CRM id configured after the fact joins a web visitor and an app user who were two
    profiles; an unrelated customer keeps every row as it was."""
    async with identity(tmp_path) as svc:
        web = [
            event("identify", anonymousId="web-1", traits={"crm": "C-7"}, ts=1_000),
            event("track", anonymousId="web-1", event="Viewed", ts=1_500),
        ]
        app = [
            event("identify", anonymousId="app-1", traits={"crm": "C-7"}, ts=2_000),
            event("screen", anonymousId="app-1", name="Home", ts=2_500),
        ]
        other = [event("identify", userId="carol", traits={"crm": "C-9"}, ts=3_000)]
        await _ingest(svc, [*web, *app, *other])
        web_pk, app_pk = (
            await _pk(svc, "anonymous_id", "web-1"),
            await _pk(svc, "anonymous_id", "app-1"),
        )
        carol = await _pk(svc, "user_id", "carol")
        assert web_pk is not None and app_pk is not None and carol is not None
        assert web_pk != app_pk
        carol_rows = await _rows(svc, await _members(svc, carol))

        crm = IdentifierRule(type="crm_id", limit=1, trait_keys=["crm"])
        svc.save(WS, "dev", _rules(added=[crm]))
        # Naming only the web visitor finds the app user through the CRM id their events
        # carry under the new rule (no stored identifier links them yet).
        result = await replay_profiles(svc, WS, "dev", ["anonymous_id:web-1"])

        # Replayed in order, the app's identify finds the web profile by the CRM id and
        # joins it: one profile, no merge needed.
        assert result.events == 4 and result.profiles == 1 and result.merges == 0
        assert sorted(result.removed) == sorted(profile_id("users", p) for p in (web_pk, app_pk))
        merged = await _pk(svc, "crm_id", "C-7")
        assert merged == web_pk == await _pk(svc, "anonymous_id", "app-1")
        page = await svc.store.events(SPACE, web_pk, limit=10)
        assert [e.message_id for e in page.events] == [e.message_id for e in [*web, *app][::-1]]
        stored = await _stored(svc)
        assert {stored[e.message_id] for e in [*web, *app]} == {profile_id("users", web_pk)}
        assert await _rows(svc, await _members(svc, carol)) == carol_rows
        assert await _pk(svc, "crm_id", "C-9") is None  # Carol was not re-resolved


async def test_group_calls_keep_the_account_and_relink_it(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        await svc.store.values.materialize(SPACE, ["traits.plan"])
        await _ingest(
            svc,
            [
                event("identify", userId="dan", anonymousId="d-1", ts=1_000),
                event("group", userId="dan", groupId="acme", traits={"plan": "gold"}, ts=2_000),
                event("group", userId="eve", groupId="acme", ts=3_000),
            ],
        )
        dan = await _pk(svc, "user_id", "dan")
        account = await svc.store.canonical(SPACE, "accounts", "group_id", "acme")
        assert dan is not None and account is not None
        before = await svc.store.events(SPACE, account, limit=10)
        await replay_profiles(svc, WS, "dev", ["user_id:dan"])
        assert await _pk(svc, "user_id", "dan") == dan
        assert await svc.store.links(SPACE, "users", dan) == [account]
        after = await svc.store.events(SPACE, account, limit=10)
        # The account's copy of Dan's group call was written again, once.
        assert sorted(e.message_id for e in after.events) == sorted(
            e.message_id for e in before.events
        )
        rows = await svc.store.store.query(
            "SELECT count(*) FROM identity_events WHERE pk = ?", [account]
        )
        assert rows[0][0] == 2
        # Its materialized value moved with the rewritten timeline row: one row, same seq.
        values = await svc.store.store.query(
            "SELECT v.value, e.message_id FROM identity_event_values v "
            "LEFT JOIN identity_events e ON e.pk = v.pk AND e.seq = v.seq WHERE v.pk = ?",
            [account],
        )
        assert [v[0] for v in values] == ['"gold"'] and values[0][1] is not None


async def test_running_it_twice_changes_nothing(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        await _ingest(
            svc,
            [
                event("identify", userId="u1", anonymousId="kiosk", ts=1_000),
                event("identify", userId="u2", anonymousId="kiosk", ts=2_000),
                event("track", anonymousId="phone", event="Tap", ts=3_000),
                event("identify", userId="u2", anonymousId="phone", ts=4_000),
            ],
        )
        svc.save(WS, "dev", _rules(user_id={"limit": 2}))
        first = await replay_profiles(svc, WS, "dev", ["user_id:u2"])
        assert first.profiles == 1 and first.merges == 1
        snapshot = await _state(svc, first.resolved)
        second = await replay_profiles(svc, WS, "dev", ["user_id:u2"])
        assert second.resolved == first.resolved and second.events == first.events
        # The first run removed the profiles of the old rules; later runs remove and
        # rebuild the same ones (the canonical profile and the one merged into it).
        assert set(first.resolved) < set(second.removed) < set(first.removed)
        assert second.merges == first.merges
        assert await _state(svc, second.resolved) == snapshot
        third = await replay_profiles(svc, WS, "dev", ["user_id:u2"])
        assert third == second
        assert await _state(svc, third.resolved) == snapshot


async def test_refusals(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        await _ingest(svc, [event("identify", userId="u1", ts=1_000)])
        with pytest.raises(NotFound):
            await replay_profiles(svc, WS, "dev", ["user_id:nobody"])
        for names, code in (
            ([], "validation_error"),
            (["no-colon"], "validation_error"),
            ([f"user_id:u{n}" for n in range(MAX_NAMED + 1)], "too_many_profiles"),
            ([profile_id("accounts", 42)], "validation_error"),
        ):
            with pytest.raises(ReplayRefused) as refused:
                await replay_profiles(svc, WS, "dev", names)
            assert refused.value.code == code
        # Nothing was touched by the refused calls.
        assert await _pk(svc, "user_id", "u1") is not None


# -- per-profile replay agrees with a full replay ------------------------------------------

_spec = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["identify", "identify", "track", "page", "group"]),
        "userId": st.none() | st.sampled_from(["u0", "u1", "u2", "u3"]),
        "anonymousId": st.sampled_from([f"a{n}" for n in range(10)]),
        "email": st.none() | st.sampled_from(["e0@x.io", "e1@x.io", "e2@x.io"]),
        "crm": st.none() | st.sampled_from(["c0", "c1", "u1"]),
        "group": st.sampled_from(["g0", "g1"]),
    }
)
_CRM_TRAIT = IdentifierRule(type="crm_id", limit=1, trait_keys=["crm"])
_CHANGES: dict[str, IdentitySettings] = {
    "user_id limit 2": _rules(user_id={"limit": 2}),
    "email limit 1": _rules(email={"limit": 1}),
    "block a1": _rules(anonymous_id={"blocked": _blocked("anonymous_id", "a1")}),
    "crm_id from traits": _rules(added=[_CRM_TRAIT]),
    # Read from another place: profiles may hold values their events no longer carry.
    "crm_id from properties": _rules(
        added=[IdentifierRule(type="crm_id", limit=1, property_keys=["crm"])]
    ),
    "block a1, crm_id from traits": _rules(
        anonymous_id={"blocked": _blocked("anonymous_id", "a1")}, added=[_CRM_TRAIT]
    ),
    "unchanged": _rules(),
}


def _events(specs: list[dict[str, Any]]) -> list[NormalizedEvent]:
    out = []
    for n, spec in enumerate(specs):
        fields = spec_fields(spec, ("email", "crm"))
        if spec["type"] not in ("identify", "group"):
            fields["properties"] = {"crm": spec["crm"]} if spec["crm"] else {}
        out.append(event(spec["type"], ts=1_000 + n * 10, message_id=f"msg-{n}", **fields))
    return out


async def _state(svc: IdentityService, ids: list[str]) -> dict[str, Any]:
    """What a user sees of these profiles (write times and sequence numbers left out)."""
    out: dict[str, Any] = {}
    for pid in ids:
        found = await svc.store.lookup(SPACE, "users", _number(pid), details=True)
        assert found is not None, pid
        p = found[0]
        timeline = await svc.store.events(SPACE, p.pk, limit=1000, ascending=True)
        merges = await svc.store.merges(SPACE, p.pk)
        out[p.id] = {
            "created": (p.created_at, p.first_message_id, p.merges),
            "last_seen": (p.last_seen, p.last_message_id),
            "traits": p.traits,
            "ids": sorted((m.type, m.value, m.pk, m.added_at, m.message_id) for m in p.mappings),
            "timeline": [(e.message_id, e.timestamp) for e in timeline.events],
            "merges": sorted((m.from_pk, m.into_pk, m.message_id, m.reason) for m in merges),
            "links": await svc.store.links(SPACE, "users", p.pk),
            "values": await svc.store.store.query(
                "SELECT e.message_id, v.path, v.value FROM identity_event_values v "
                "JOIN identity_events e ON e.pk = v.pk AND e.seq = v.seq "
                "WHERE v.pk IN (SELECT unnest(?::BIGINT[])) ORDER BY ALL",
                [sorted(await _members(svc, p.pk))],
            ),
        }
    stored = await _stored(svc)
    messages = {m for v in out.values() for m, _ts in v["timeline"]}
    out["stored"] = {m: stored[m] for m in sorted(messages)}
    return out


def _number(pid: str) -> int:
    parsed = parse_profile_id(pid)
    assert parsed is not None
    return parsed[1]


async def _step(svc: IdentityService, rules: IdentitySettings, named: str) -> None:
    """Save ``rules``, re-resolve the profile ``named``, check that nobody outside the
    affected set was touched, and that a full replay gives the affected set the same."""
    users = "SELECT pk FROM identity_profiles WHERE collection = 'users'"
    svc.save(WS, "dev", rules)
    everyone = {row[0] for row in await svc.store.store.query(users)}
    before = await _rows(svc, everyone)
    partial = await replay_profiles(svc, WS, "dev", [named])
    after = await _rows(svc, everyone)
    untouched = {pk for pk in everyone if profile_id("users", pk) not in partial.removed}
    # Everyone outside the affected set keeps every row, write times included (the
    # accounts' timeline copies of the replayed group calls are written again).
    for table, columns in PROFILE_TABLES:
        kept = [r for r in before[table] if set(r[: len(columns)]) & untouched]
        assert kept == [r for r in after[table] if set(r[: len(columns)]) & untouched], table
    mine = await _state(svc, partial.resolved)
    await replay(svc, WS, "dev")
    assert await _state(svc, partial.resolved) == mine


async def _agree(root: Path, specs: list[dict[str, Any]], changes: list[str], seed: int) -> None:
    """Ingest under the first rules, then ``_step`` through the others, each time naming
    the profile of another event."""
    async with identity(root) as svc:
        # Audiences' materialized event values are per timeline row: replays rewrite them.
        await svc.store.values.materialize(SPACE, ["traits.crm", "properties.crm"])
        svc.save(WS, "dev", _CHANGES[changes[0]])
        events = _events(specs)
        for start in range(0, len(events), 7):  # a few pipeline rounds
            await _ingest(svc, events[start : start + 7])
        for step, change in enumerate(changes[1:]):
            # An event whose only identifier is blocked belongs to no profile: name the
            # profile of the next event that has one.
            stored = await _stored(svc)
            order = [events[(seed + step + i) % len(events)] for i in range(len(events))]
            named = next((stored[e.message_id] for e in order if stored[e.message_id]), None)
            if named is None:
                return
            await _step(svc, _CHANGES[change], named)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    specs=st.lists(_spec, min_size=1, max_size=24),
    # Half the time the events first resolve under the out-of-the-box rules.
    initial=st.just("unchanged") | st.sampled_from(sorted(_CHANGES)),
    changes=st.lists(st.sampled_from(sorted(_CHANGES)), min_size=1, max_size=4),
    seed=st.integers(0, 100),
)
def test_replaying_some_profiles_agrees_with_replaying_everything(
    specs: list[dict[str, Any]], initial: str, changes: list[str], seed: int
) -> None:
    with tempfile.TemporaryDirectory() as root:
        asyncio.run(_agree(Path(root), specs, [initial, *changes], seed))


async def test_a_profile_holding_a_value_its_events_no_longer_carry_is_re_resolved(
    tmp_path: Path,
) -> None:
    """The CRM id moves from traits to properties: Quinn's profile still holds C-1 (read
    from her identify) though none of her events carries it now, and Pat's track carries
    it. Re-resolving Pat must take Quinn's profile along (``identity_ids`` says who holds
    the value), or Pat's event would join Quinn's stale profile."""
    async with identity(tmp_path) as svc:
        svc.save(WS, "dev", _rules(added=[_CRM_TRAIT]))
        await _ingest(
            svc,
            [
                event("identify", anonymousId="quinn", traits={"crm": "C-1"}, ts=1_000),
                event("track", anonymousId="pat", event="X", properties={"crm": "C-1"}, ts=2_000),
            ],
        )
        moved = IdentifierRule(type="crm_id", limit=1, property_keys=["crm"])
        await _step(svc, _rules(added=[moved]), "anonymous_id:pat")
        assert await _pk(svc, "crm_id", "C-1") == await _pk(svc, "anonymous_id", "pat")


async def test_an_event_found_by_value_brings_its_profile_along(tmp_path: Path) -> None:
    """Blocking a1 and adding the CRM id at once: Quinn's identify now carries only the CRM
    id it shares with Pat, and no stored identifier links them; its profile (found from
    the event's ``profile_id``) is re-resolved too, or it would lose the event."""
    async with identity(tmp_path) as svc:
        await _ingest(
            svc,
            [
                event("identify", anonymousId="pat", traits={"crm": "C-1"}, ts=1_000),
                event("identify", anonymousId="a1", traits={"crm": "C-1"}, ts=2_000),
                event("page", anonymousId="a1", name="Home", ts=3_000),
            ],
        )
        await _step(svc, _CHANGES["block a1, crm_id from traits"], "anonymous_id:pat")


@pytest.mark.parametrize(
    ("limit", "code"), [("MAX_PROFILES", "too_many_profiles"), ("MAX_EVENTS", "too_many_events")]
)
async def test_an_affected_set_past_the_limits_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, code: str
) -> None:
    async with identity(tmp_path) as svc:
        await _ingest(
            svc,
            [
                event("identify", userId="u1", anonymousId="kiosk", ts=1_000),
                event("identify", userId="u2", anonymousId="kiosk", ts=2_000),
            ],
        )
        everyone = {
            row[0] for row in await svc.store.store.query("SELECT pk FROM identity_profiles")
        }
        before = await _rows(svc, everyone)
        monkeypatch.setattr(affected, limit, 1)  # the kiosk joins two of each
        with pytest.raises(ReplayRefused) as refused:
            await replay_profiles(svc, WS, "dev", ["user_id:u2"])
        assert refused.value.code == code
        assert await _rows(svc, everyone) == before


def _envelope(i: int) -> tuple[str, bytes]:
    """A queued message as the edge publishes it: people browse, then some sign up."""
    person = i % 40
    if i % 5 == 4:
        message = {"type": "identify", "userId": f"u{person}", "anonymousId": f"a{person}",
                   "traits": {"n": i}}  # fmt: skip
    else:
        message = {"type": "page", "anonymousId": f"a{person}", "name": "Home"}
    message["messageId"] = f"live-{i}"
    envelope = Envelope(
        source_id="src_web", workspace_id=WS, environment="dev",
        received_at=1_700_000_000_000 + i, request_id="req", index=i,
        message=msgspec.Raw(msgspec.json.encode(message)),
    )  # fmt: skip
    return ("", ENVELOPE_ENCODER.encode(envelope))


async def test_a_replay_while_events_arrive_keeps_every_event_on_one_timeline(
    tmp_path: Path,
) -> None:
    """The pipeline keeps rounds in flight (resolved, not yet stored) when a replay takes the
    stage: the replay must find them stored, or their timeline rows would be cleared and
    never written again."""
    total = 3000
    async with identity(tmp_path) as svc:
        store = svc.store.store
        queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
        await queue.start()
        pipeline = Pipeline(queue, store, EventHub(), batch_size=100)
        pipeline.stages.append(svc.stage)
        running = asyncio.create_task(pipeline.run())
        try:
            for wave in range(10):
                await queue.publish([_envelope(i) for i in range(wave * 300, wave * 300 + 300)])
                if wave in (2, 5, 8):
                    # Mid-wave: some of its rounds stored, others in flight behind them.
                    for _ in range(5000):
                        if await store.count() >= wave * 300 + 50:
                            break
                        await asyncio.sleep(0.001)
                    await replay(svc, WS, "dev")
            for _ in range(600):
                if await store.count() >= total and await queue.lag("pipeline") == 0:
                    break
                await asyncio.sleep(0.05)
        finally:
            await pipeline.stop()
            await running
            await queue.close()
        assert await store.count() == total
        rows = await store.run_read(
            lambda cur: cur.execute(
                "SELECT message_id, count(*) FROM identity_events WHERE space = ? GROUP BY 1",
                [SPACE],
            ).fetchall()
        )
        assert len(rows) == total, "every stored event is on a timeline"
        assert {n for _, n in rows} == {1}, "and on one only"
