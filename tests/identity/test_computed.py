"""Computed traits over real DuckDB: every type, windows, filters, merges."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from shoal.identity.computed import ComputedTrait
from shoal.identity.graph import wall_ms
from tests.identity.helpers import WS, event, identity

SPACE = f"{WS}:dev"
DAY = 86_400_000


def _order(user: str, ts: int, **props: Any) -> Any:
    return event("track", userId=user, event="Order Completed", properties=props, ts=ts)


async def test_every_trait_type_with_windows_filters_and_merges(tmp_path: Path) -> None:
    now = wall_ms()
    async with identity(tmp_path) as svc:
        await svc.stage.process_committed(
            [
                event("page", anonymousId="anon", name="Home", ts=now - 40 * DAY),
                _order("u", now - 30 * DAY, revenue=10, color="red", sku="A-1"),
                _order("u", now - 2 * DAY, revenue=30, color="blue", sku="B-2"),
                _order("u", now - 1 * DAY, revenue=20, color="blue", sku="A-3"),
                # Ties the anonymous profile (and its page) to the user.
                event("identify", userId="u", anonymousId="anon", ts=now - DAY // 2),
            ]
        )
        traits = {
            "count": ComputedTrait(key="count", type="event_counter", event="Order Completed"),
            "recent": ComputedTrait(
                key="recent", type="event_counter", event="Order Completed", window_days=7
            ),
            "total": ComputedTrait(key="total", type="sum", event="Order Completed",
                                   property="revenue"),
            "avg": ComputedTrait(key="avg", type="average", event="Order Completed",
                                 property="revenue"),
            "low": ComputedTrait(key="low", type="min", event="Order Completed",
                                 property="revenue"),
            "high": ComputedTrait(key="high", type="max", event="Order Completed",
                                  property="revenue"),
            "first": ComputedTrait(key="first", type="first", event="Order Completed",
                                   property="color"),
            "last": ComputedTrait(key="last", type="last", event="Order Completed",
                                  property="revenue"),
            "fav": ComputedTrait(key="fav", type="most_frequent", event="Order Completed",
                                 property="color"),
            "colors": ComputedTrait(key="colors", type="unique_count", event="Order Completed",
                                    property="color"),
            "skus": ComputedTrait(key="skus", type="unique_list", event="Order Completed",
                                  property="sku"),
            "a_skus": ComputedTrait(
                key="a_skus", type="event_counter", event="Order Completed",
                filters=[{"property": "sku", "operator": "starts_with", "value": "A-"},
                         {"property": "revenue", "operator": "gte", "value": 15}],
            ),
            "homes": ComputedTrait(key="homes", type="event_counter", event="Home"),
        }  # fmt: skip
        for trait in traits.values():
            await svc.create_trait(WS, "dev", trait)
        pk = await svc.store.canonical(SPACE, "users", "user_id", "u")
        values = {k: v[0] for k, v in (await svc.store.computed(SPACE, pk or 0)).items()}
        assert values == {
            "count": 3,
            "recent": 2,
            "total": 60.0,
            "avg": 20.0,
            "low": 10.0,
            "high": 30.0,
            "first": "red",
            "last": 20,
            "fav": "blue",
            "colors": 2,
            "skus": ["A-1", "A-3", "B-2"],
            "a_skus": 1,
            "homes": 1,  # the anonymous page before the identify counts
        }


async def test_pipeline_keeps_values_current(tmp_path: Path) -> None:
    import asyncio

    async with identity(tmp_path) as svc:
        await svc.create_trait(
            WS, "dev", ComputedTrait(key="orders", type="event_counter", event="Order Completed")
        )
        await svc.stage.process_committed([_order("v", 1_000), _order("v", 2_000)])
        pk = await svc.store.canonical(SPACE, "users", "user_id", "v")
        for _ in range(100):
            if not svc.computing() and (await svc.store.computed(SPACE, pk or 0)).get("orders"):
                break
            await asyncio.sleep(0.05)
        assert (await svc.store.computed(SPACE, pk or 0))["orders"][0] == 2
        # A most-frequent value needs two occurrences.
        await svc.create_trait(
            WS, "dev",
            ComputedTrait(key="fav", type="most_frequent", event="Order Completed",
                          property="color"),
        )  # fmt: skip
        assert "fav" not in await svc.store.computed(SPACE, pk or 0)


async def test_account_traits_aggregate_the_accounts_users(tmp_path: Path) -> None:
    now = wall_ms()
    async with identity(tmp_path) as svc:
        await svc.create_trait(
            WS, "dev",
            ComputedTrait(key="account_revenue", type="sum", event="Order Completed",
                          property="revenue", collection="accounts"),
        )  # fmt: skip
        await svc.create_trait(
            WS, "dev", ComputedTrait(key="orders", type="event_counter", event="Order Completed")
        )
        await svc.stage.process_committed(
            [
                event("group", userId="a", groupId="acme", ts=now - 3 * DAY),
                event("group", userId="b", groupId="acme", ts=now - 3 * DAY),
                event("group", userId="c", groupId="other", ts=now - 3 * DAY),
                _order("a", now - 2 * DAY, revenue=10),
                _order("b", now - DAY, revenue=32.5),
                _order("c", now - DAY, revenue=99),
            ]
        )
        # The pipeline's updater recomputes the touched profiles and their accounts.
        for _ in range(100):
            if not svc.computing():
                break
            await asyncio.sleep(0.05)
        acme = await svc.store.canonical(SPACE, "accounts", "group_id", "acme")
        user = await svc.store.canonical(SPACE, "users", "user_id", "a")
        acme_values = {k: v[0] for k, v in (await svc.store.computed(SPACE, acme or 0)).items()}
        user_values = {k: v[0] for k, v in (await svc.store.computed(SPACE, user or 0)).items()}
        assert acme_values == {"account_revenue": 42.5}
        assert user_values == {"orders": 1}
