"""Meta (Advertising): Conversions API events and Custom Audience list syncs.

* ``conversion``: ``POST {graph}/{version}/{pixel_id}/events?access_token=…`` with JSON
  ``{"data": [{event_name, event_time (unix s), event_id, action_source, event_source_url,
  user_data: {em: [sha256], ph: [sha256], external_id: [sha256], client_ip_address,
  client_user_agent}, custom_data: {…}}], "test_event_code"?}``, at most 1,000 events.
  Emails are trimmed and lower-cased, phones reduced to digits, then SHA-256 hashed.
* List sync (``sync_list``): ``POST`` to add and ``DELETE`` to remove
  ``{graph}/{version}/{audience_id}/users`` with ``{"payload": {"schema": ["EMAIL",
  "PHONE", "EXTERN_ID"], "data": [[hash, hash, hash], …]}}``, at most 10,000 rows a call.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shoal.destinations.base import Action, Capabilities, DestinationFactory, ListMember, Outcome
from shoal.destinations.http import HttpClient
from shoal.destinations.vendor import epoch_seconds, hashed, trait
from shoal.destinations.vendor_client import VendorClient

LIST_SCHEMA = ("EMAIL", "PHONE", "EXTERN_ID")
LIST_BATCH = 10_000


class MetaSettings(BaseModel):
    """Pixel and token."""

    model_config = ConfigDict(extra="forbid")

    pixel_id: str = Field(min_length=1, pattern=r"^\d+$")
    access_token: SecretStr
    api_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    test_event_code: str | None = Field(default=None, description="Shows events in Test Events")
    base_url: str = "https://graph.facebook.com"


ACTIONS = (
    Action(
        name="conversion",
        title="Send conversion event",
        trigger={"conditions": [{"field": "type", "value": "track"}]},
        fields={
            "event_name": {"@path": "$.event"},
            "event_time": {"@path": "$.timestamp"},
            "event_id": {"@path": "$.messageId"},
            "action_source": "website",
            "event_source_url": {"@path": "$.context.page.url"},
            "email": trait("email"),
            "phone": trait("phone"),
            "external_id": {"@path": "$.userId"},
            "client_ip_address": {"@path": "$.context.ip"},
            "client_user_agent": {"@path": "$.context.userAgent"},
            "custom_data": {
                "value": {"@path": "$.properties.revenue"},
                "currency": {"@path": "$.properties.currency"},
                "order_id": {"@path": "$.properties.order_id"},
            },
        },
    ),
)


def _user_data(p: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, field, kind in (("em", "email", "email"), ("ph", "phone", "phone")):
        value = hashed(p.get(field), kind)
        if value:
            data[key] = [value]
    external = hashed(str(p["external_id"]), "id") if p.get("external_id") else None
    if external:
        data["external_id"] = [external]
    for key in ("client_ip_address", "client_user_agent", "fbc", "fbp"):
        if p.get(key):
            data[key] = p[key]
    return data


class MetaClient(VendorClient):
    """Conversions API and Custom Audience users."""

    def __init__(self, settings: MetaSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        self.s = settings
        self.graph = f"{settings.base_url.rstrip('/')}/{settings.api_version}"
        self.token = {"access_token": settings.access_token.get_secret_value()}

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Send conversion events."""
        del action
        data = []
        for p in payloads:
            event: dict[str, Any] = {
                "event_name": p.get("event_name"),
                "event_time": epoch_seconds(p.get("event_time")),
                "event_id": p.get("event_id"),
                "action_source": p.get("action_source") or "website",
                "user_data": _user_data(p),
            }
            if p.get("event_source_url"):
                event["event_source_url"] = p["event_source_url"]
            custom = {k: v for k, v in (p.get("custom_data") or {}).items() if v is not None}
            if custom:
                event["custom_data"] = custom
            data.append(event)
        body: dict[str, Any] = {"data": data}
        if self.s.test_event_code:
            body["test_event_code"] = self.s.test_event_code
        url = f"{self.graph}/{self.s.pixel_id}/events"
        return await self.request("POST", url, json_body=body, params=self.token)

    async def sync_list(
        self, list_id: str, add: list[ListMember], remove: list[ListMember]
    ) -> Outcome:
        """Add and remove Custom Audience members (hashed email, phone, external id)."""
        for method, members in (("POST", add), ("DELETE", remove)):
            for start in range(0, len(members), LIST_BATCH):
                rows = [
                    [
                        hashed(m.identifiers.get("email"), "email") or "",
                        hashed(m.identifiers.get("phone"), "phone") or "",
                        hashed(m.identifiers.get("user_id"), "id") or "",
                    ]
                    for m in members[start : start + LIST_BATCH]
                ]
                outcome = await self.request(
                    method,
                    f"{self.graph}/{list_id}/users",
                    json_body={"payload": {"schema": list(LIST_SCHEMA), "data": rows}},
                    params=self.token,
                )
                if not outcome.ok:
                    return outcome
        return Outcome(True, 200, "")


def plugin() -> DestinationFactory:
    """The Meta destination."""
    return DestinationFactory(
        name="meta_conversions",
        title="Meta Conversions API + Custom Audiences",
        category="Advertising",
        description="Server-side conversion events with hashed identifiers; audience lists.",
        capabilities=Capabilities(
            batching=True, max_batch_size=1000, event_types=("track",), list_sync=True
        ),
        settings_model=MetaSettings,
        actions=ACTIONS,
        create=MetaClient.create,
        url_fields=("base_url",),
    )
