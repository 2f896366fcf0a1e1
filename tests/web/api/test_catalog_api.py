"""``GET /api/v1/catalog/...`` serves the bundled catalog as the issue specifies."""

from __future__ import annotations

from shoal.catalog import load_catalog
from tests.inprocess import App


def test_business_goals_shape_and_content(app: App) -> None:
    response = app.client.get("/api/v1/catalog/business-goals", headers=app.auth)
    assert response.status_code == 200
    goals = response.json()
    catalog = load_catalog()
    assert [g["id"] for g in goals] == [g.id for g in catalog.goals]
    assert [len(g["use_cases"]) for g in goals] == [7, 6, 6, 6]
    first = goals[0]
    assert set(first) == {"id", "name", "description", "considerations", "use_cases"}
    use_case = next(u for u in first["use_cases"] if u["id"] == "mitigate-cart-abandonment")
    assert {"id", "name", "description", "events", "sources", "destinations"} <= set(use_case)
    assert use_case["events"][0]["name"] == "Checkout Started"
    assert use_case["events"][0]["properties"][:3] == ["num_items", "order_id", "coupon"]
    assert use_case["sources"] == ["Website", "Mobile", "Reverse ETL"]
    assert use_case["destinations"] == ["Reverse ETL", "Analytics", "Advertising"]


def test_one_goal_one_use_case_and_distinct_use_cases(app: App) -> None:
    get = app.client.get
    goal = get("/api/v1/catalog/business-goals/personalize-first-conversion", headers=app.auth)
    assert goal.json()["name"] == "Personalize first conversion"
    path = "/api/v1/catalog/business-goals/personalize-first-conversion/use-cases/"
    same = get(path + "mitigate-cart-abandonment", headers=app.auth).json()
    assert "Email Marketing" in same["destinations"], "destinations differ per goal"
    missing = get(path + "suppress-with-purchase", headers=app.auth)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert len(get("/api/v1/catalog/use-cases", headers=app.auth).json()) == 16
    assert get("/api/v1/catalog/business-goals").status_code == 401
