"""Identity resolution against a real DuckDB store: Segment's worked examples and rules."""

from __future__ import annotations

from pathlib import Path

from shoal.identity.graph import MAX_MERGES
from shoal.identity.rules import IdentifierRule, IdentitySettings, add_defaults
from tests.identity.helpers import WS, event, identity

SPACE = f"{WS}:dev"


async def test_anonymous_page_then_identify_attaches_user_id(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        page = event("page", anonymousId="anon_123", name="Home")
        await svc.stage.process_committed([page])
        ident = event("identify", userId="use_123", anonymousId="anon_123", ts=1_700_000_001_000)
        await svc.stage.process_committed([ident])
        assert page.profile_id is not None and ident.profile_id == page.profile_id
        pk = await svc.store.canonical(SPACE, "users", "user_id", "use_123")
        profile = await svc.store.profile(SPACE, pk or 0)
        assert profile is not None
        assert {(m.type, m.value) for m in profile.mappings} == {
            ("anonymous_id", "anon_123"),
            ("user_id", "use_123"),
        }


async def test_email_demotion_ends_in_a_new_profile(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        first = event("identify", userId="abc123", traits={"email": "jane@example.com"})
        second = event(
            "identify", userId="abc456", traits={"email": "jane@example.com"}, ts=1_700_000_005_000
        )
        await svc.stage.process_committed([first, second])
        assert first.profile_id != second.profile_id
        pk = await svc.store.canonical(SPACE, "users", "user_id", "abc456")
        profile = await svc.store.profile(SPACE, pk or 0)
        assert profile is not None
        # The demoted email was not added to the new profile.
        assert [(m.type, m.value) for m in profile.mappings] == [("user_id", "abc456")]
        assert svc.stage.stats.demoted >= 1


async def test_merge_carries_traits_and_history(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        web = event("page", anonymousId="a-web", name="Pricing", ts=1_000)
        app = event("screen", anonymousId="a-app", name="Home", ts=2_000)
        web_id = event(
            "identify", anonymousId="a-web", userId="u1", traits={"plan": "free"}, ts=3_000
        )
        app_id = event(
            "identify", anonymousId="a-app", traits={"email": "j@x.io", "plan": "pro"}, ts=4_000
        )
        join = event("identify", userId="u1", traits={"email": "j@x.io"}, ts=5_000)
        for ev in (web, app, web_id, app_id, join):
            await svc.stage.process_committed([ev])
        assert len({web.profile_id, app.profile_id}) == 2
        assert join.profile_id == web.profile_id  # the older profile survives
        pk = await svc.store.canonical(SPACE, "users", "anonymous_id", "a-app")
        profile = await svc.store.profile(SPACE, pk or 0)
        assert profile is not None and profile.id == web.profile_id
        assert profile.traits["plan"][0] == "pro" and profile.traits["email"][0] == "j@x.io"
        page = await svc.store.events(SPACE, profile.pk, limit=50)
        assert {e.message_id for e in page.events} == {
            e.message_id for e in (web, app, web_id, app_id, join)
        }
        merges = await svc.store.merges(SPACE, profile.pk)
        assert len(merges) == 1 and merges[0].message_id == join.message_id
        assert "email:j@x.io" in merges[0].reason


async def test_null_removes_a_trait_and_last_update_wins(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        await svc.stage.process_committed(
            [
                event("identify", userId="u", traits={"a": 1, "b": 2}, ts=2_000),
                event("identify", userId="u", traits={"a": 0}, ts=1_000),  # older: loses
                event("identify", userId="u", traits={"b": None}, ts=3_000),
            ]
        )
        pk = await svc.store.canonical(SPACE, "users", "user_id", "u")
        profile = await svc.store.profile(SPACE, pk or 0)
        assert profile is not None
        assert profile.traits["a"][0] == 1 and profile.traits["b"][0] is None


async def test_blocked_values_are_not_promoted(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        one = event("identify", userId="u1", anonymousId="anonymous")
        two = event("identify", userId="u2", anonymousId="anonymous")
        zeros = event("track", event="X", anonymousId="0000-0000")
        await svc.stage.process_committed([one, two, zeros])
        assert one.profile_id != two.profile_id
        assert await svc.store.canonical(SPACE, "users", "anonymous_id", "anonymous") is None
        assert zeros.profile_id is None and svc.stage.stats.unresolved == 1


async def test_custom_rules_external_ids_and_trait_keys(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        settings = add_defaults(IdentitySettings())
        rules = [*settings.identifiers, IdentifierRule(type="crm_id", trait_keys=["crmId"])]
        svc.save(WS, "dev", IdentitySettings(identifiers=rules))
        ext = [{"id": "C-9", "type": "CRM_ID", "collection": "users", "encoding": "none"}]
        first = event("track", event="E", anonymousId="x1", context={"externalIds": ext})
        second = event("identify", anonymousId="x2", traits={"crm_id": "C-9"}, ts=1_700_000_009_000)
        await svc.stage.process_committed([first, second])
        assert first.profile_id == second.profile_id


async def test_user_id_limit_protects_against_shared_anonymous_id(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        a = event("identify", userId="u1", anonymousId="shared-device", ts=1_000)
        b = event("identify", userId="u2", anonymousId="shared-device", ts=2_000)
        await svc.stage.process_committed([a, b])
        assert a.profile_id != b.profile_id
        assert await svc.store.canonical(SPACE, "users", "user_id", "u2") is not None


async def test_merge_cap_stops_merging_but_events_still_resolve(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        # Generous limits, so only the merge cap can stop the merges.
        rules = [
            r.model_copy(update={"limit": 1000}) if r.type in ("email", "anonymous_id") else r
            for r in add_defaults(IdentitySettings()).identifiers
        ]
        svc.save(WS, "dev", IdentitySettings(identifiers=rules))
        hub = event("identify", userId="hub", anonymousId="h0", ts=1_000)
        await svc.stage.process_committed([hub])
        # Each anonymous profile joins the hub through an email it shares with it.
        for n in range(MAX_MERGES + 5):
            await svc.stage.process_committed(
                [
                    event("page", anonymousId=f"a{n}", ts=2_000 + n),
                    event("track", event="E", anonymousId=f"a{n}", ts=3_000 + n,
                          context={"traits": {"email": f"e{n}@x.io"}}),
                    event("track", event="E", userId="hub", ts=4_000 + n,
                          context={"traits": {"email": f"e{n}@x.io"}}),
                ]
            )  # fmt: skip
        pk = await svc.store.canonical(SPACE, "users", "user_id", "hub")
        profile = await svc.store.profile(SPACE, pk or 0)
        assert profile is not None and profile.merges == MAX_MERGES
        assert svc.stage.stats.capped > 0
        # Past the cap the hub's events still resolve to it.
        late = event("track", event="E", userId="hub", ts=9_000)
        await svc.stage.process_committed([late])
        assert late.profile_id == profile.id


async def test_group_creates_account_with_traits_and_link(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        grp = event("group", userId="u1", groupId="acme", traits={"name": "Acme", "seats": 20})
        await svc.stage.process_committed([grp])
        acc = await svc.store.canonical(SPACE, "accounts", "group_id", "acme")
        user = await svc.store.canonical(SPACE, "users", "user_id", "u1")
        assert acc is not None and user is not None
        account = await svc.store.profile(SPACE, acc)
        assert account is not None and account.id.startswith("acc_")
        assert account.traits["name"][0] == "Acme"
        assert await svc.store.links(SPACE, "users", user) == [acc]
        assert await svc.store.links(SPACE, "accounts", acc) == [user]


async def test_dev_and_prod_are_separate_spaces(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        dev = event("identify", userId="same", env="dev")
        prod = event("identify", userId="same", env="prod")
        await svc.stage.process_committed([dev, prod])
        assert dev.profile_id != prod.profile_id
