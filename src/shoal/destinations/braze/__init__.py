"""Braze (Personalization): profile attributes and custom events via ``/users/track``.

``POST {rest_endpoint}/users/track`` with ``Authorization: Bearer <REST API key>`` and
``{"attributes": [{"external_id", …traits}]}`` or ``{"events": [{"external_id", "name",
"time" (ISO 8601), "properties"}]}``; at most 75 objects of each kind per request. Braze
answers 201 ``{"message": "success", …}``; objects it refused come back in ``errors``
with their ``index`` (dead-lettered), the rest are processed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shoal.destinations.base import Action, Capabilities, DestinationFactory, Outcome
from shoal.destinations.http import Answer, HttpClient
from shoal.destinations.vendor_client import VendorClient, indexed_refusals


class BrazeSettings(BaseModel):
    """REST key and the instance's REST endpoint."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr
    rest_endpoint: str = Field(description="e.g. https://rest.iad-01.braze.com")


ACTIONS = (
    Action(
        name="update_profile",
        title="Update user profile",
        trigger={"conditions": [{"field": "type", "value": "identify"}]},
        fields={"external_id": {"@path": "$.userId"}, "attributes": {"@path": "$.traits"}},
    ),
    Action(
        name="track_event",
        title="Track custom event",
        trigger={"conditions": [{"field": "type", "value": "track"}]},
        fields={
            "external_id": {"@path": "$.userId"},
            "name": {"@path": "$.event"},
            "time": {"@path": "$.timestamp"},
            "properties": {"@path": "$.properties"},
        },
    ),
)


class BrazeClient(VendorClient):
    """Batches of up to 75 attribute or event objects."""

    def __init__(self, settings: BrazeSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        self.url = settings.rest_endpoint.rstrip("/") + "/users/track"
        self.headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """One ``/users/track`` request."""
        if action == "update_profile":
            objects = [
                {**(p.get("attributes") or {}), "external_id": p.get("external_id")}
                for p in payloads
            ]
            body = {"attributes": objects}
        else:
            objects = [
                {k: p[k] for k in ("external_id", "name", "time", "properties") if k in p}
                for p in payloads
            ]
            body = {"events": objects}
        return await self.request("POST", self.url, _refused, json_body=body, headers=self.headers)


def _refused(answer: Answer) -> dict[int, str]:
    # Braze answers 201 and lists the objects it refused in errors[] by index.
    if not answer.ok:
        return {}
    return indexed_refusals(answer.body, "errors", lambda e: str(e.get("type", "refused")))


def plugin() -> DestinationFactory:
    """The Braze destination."""
    return DestinationFactory(
        name="braze",
        title="Braze",
        category="Personalization",
        description="User attributes and custom events for personalization and messaging.",
        capabilities=Capabilities(
            batching=True, max_batch_size=75, event_types=("identify", "track")
        ),
        settings_model=BrazeSettings,
        actions=ACTIONS,
        create=BrazeClient.create,
        url_fields=("rest_endpoint",),
    )
