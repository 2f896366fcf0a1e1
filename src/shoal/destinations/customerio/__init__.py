"""Customer.io (Email Marketing): people and events through the Track API (v1).

HTTP Basic auth ``site_id:api_key`` against ``https://track.customer.io`` (EU:
``track-eu``):

* ``identify``: ``PUT /api/v1/customers/{id}`` with the attributes as the JSON body;
* ``track``: ``POST /api/v1/customers/{id}/events`` with ``{"name", "data",
  "timestamp"}``; without a user id, ``POST /api/v1/events`` with ``anonymous_id``.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shoal.destinations.base import Action, Capabilities, DestinationFactory, Outcome
from shoal.destinations.http import HttpClient
from shoal.destinations.vendor import epoch_seconds
from shoal.destinations.vendor_client import VendorClient

REGIONS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}


class CustomerIOSettings(BaseModel):
    """Track API credentials."""

    model_config = ConfigDict(extra="forbid")

    site_id: str = Field(min_length=1)
    api_key: SecretStr
    region: Literal["us", "eu"] = "us"
    base_url: str | None = None


ACTIONS = (
    Action(
        name="identify",
        title="Create or update person",
        trigger={"conditions": [{"field": "type", "value": "identify"}]},
        fields={
            "id": {"@path": "$.userId"},
            "attributes": {"@path": "$.traits"},
            "created_at": {"@path": "$.traits.created_at"},
        },
    ),
    Action(
        name="track",
        title="Track event",
        trigger={"conditions": [{"field": "type", "value": "track"}]},
        fields={
            "id": {"@path": "$.userId"},
            "anonymous_id": {"@path": "$.anonymousId"},
            "name": {"@path": "$.event"},
            "data": {"@path": "$.properties"},
            "timestamp": {"@path": "$.timestamp"},
        },
    ),
)


class CustomerIOClient(VendorClient):
    """One Track API request per payload."""

    def __init__(self, settings: CustomerIOSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        self.base = (settings.base_url or REGIONS[settings.region]).rstrip("/")
        self.auth = (settings.site_id, settings.api_key.get_secret_value())

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Send the (single) payload."""
        p = payloads[0]
        person = quote(str(p["id"]), safe="") if p.get("id") else None
        if action == "identify":
            if person is None:
                return Outcome(False, None, error="identify without userId", retryable=False)
            attributes = dict(p.get("attributes") or {})
            if p.get("created_at") is not None:
                attributes["created_at"] = epoch_seconds(p["created_at"])
            url = f"{self.base}/api/v1/customers/{person}"
            return await self.request("PUT", url, json_body=attributes, auth=self.auth)
        body: dict[str, Any] = {
            "name": p.get("name"),
            "data": p.get("data") or {},
            "timestamp": epoch_seconds(p.get("timestamp")),
        }
        if person is not None:
            url = f"{self.base}/api/v1/customers/{person}/events"
        else:
            url = f"{self.base}/api/v1/events"
            body["anonymous_id"] = p.get("anonymous_id")
        return await self.request("POST", url, json_body=body, auth=self.auth)


def plugin() -> DestinationFactory:
    """The Customer.io destination."""
    return DestinationFactory(
        name="customerio",
        title="Customer.io",
        category="Email Marketing",
        description="People and events through the Track API.",
        capabilities=Capabilities(batching=False, event_types=("identify", "track")),
        settings_model=CustomerIOSettings,
        actions=ACTIONS,
        create=CustomerIOClient.create,
        url_fields=("base_url",),
    )
