"""Plans generated from the catalog, and their JSON Schemas."""

from __future__ import annotations

import jsonschema

from shoal.catalog import load_catalog
from shoal.catalog.snippets import example_properties
from shoal.plans import event_schema, events_from_use_case
from shoal.plans.model import properties_schema


def test_every_use_case_yields_a_valid_draft7_schema_per_event() -> None:
    for _goal, use_case in load_catalog().entries():
        events = events_from_use_case(use_case)
        assert [e.name for e in events] == [e.name for e in use_case.events]
        for planned, suggested in zip(events, use_case.events, strict=True):
            schema = event_schema(planned)
            jsonschema.Draft7Validator.check_schema(schema)
            inner = schema["properties"]["properties"]
            assert list(inner["properties"]) == [p.name for p in suggested.properties]
            assert inner["required"] == [p.name for p in suggested.properties]
            # The example values the snippets send meet the plan.
            jsonschema.validate(example_properties(planned.properties), properties_schema(planned))


def test_spec_types_become_schema_types() -> None:
    use_case = load_catalog().use_case("optimize-advertising", "mitigate-cart-abandonment")
    checkout = events_from_use_case(use_case)[0]
    props = event_schema(checkout)["properties"]["properties"]["properties"]
    assert props["revenue"] == {"type": "number"}
    assert props["order_id"] == {"type": "string"}
    assert props["num_items"] == {}, "not a spec property: any value"
    assert event_schema(checkout)["properties"]["event"] == {"const": "Checkout Started"}


def test_page_events_note_the_spec_names() -> None:
    use_case = load_catalog().use_case(
        "personalize-communications-and-product-experiences", "personalize-winback"
    )
    page = events_from_use_case(use_case)[0]
    assert page.call == "page"
    assert "every page call" in page.description
    assert page.properties[1].description == "Segment spec: 'name'."
    assert event_schema(page)["properties"]["type"] == {"const": "page"}
