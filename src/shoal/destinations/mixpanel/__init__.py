"""Mixpanel (Analytics): events through the Import API, profiles through Engage.

* ``track``: ``POST {api}/import?strict=1[&project_id=…]``, HTTP Basic auth with the
  project's API secret as user name (or a service account with ``project_id``), a JSON
  array of ``{"event", "properties": {"time" (ms), "distinct_id", "$insert_id", …}}``, at
  most 2,000 per request. With ``strict=1`` a 400 names the refused records
  (``failed_records[].index``) while the rest are imported: those become dead letters.
* ``identify``: ``POST {api}/engage#profile-set`` with
  ``[{"$token", "$distinct_id", "$set": {…}}]``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shoal.destinations.base import Action, Capabilities, DestinationFactory, Outcome
from shoal.destinations.http import Answer, HttpClient
from shoal.destinations.vendor import USER_OR_ANONYMOUS, epoch_ms
from shoal.destinations.vendor_client import VendorClient, indexed_refusals

REGIONS = {
    "us": "https://api.mixpanel.com",
    "eu": "https://api-eu.mixpanel.com",
    "in": "https://api-in.mixpanel.com",
}


class MixpanelSettings(BaseModel):
    """Project credentials and data residency."""

    model_config = ConfigDict(extra="forbid")

    project_token: SecretStr = Field(description="Project token (profiles)")
    api_secret: SecretStr = Field(description="API secret or service-account secret (import)")
    service_account: str | None = Field(default=None, description="Service account user name")
    project_id: str | None = Field(default=None, description="Needed with a service account")
    region: Literal["us", "eu", "in"] = "us"
    base_url: str | None = Field(default=None, description="Override the API host")


ACTIONS = (
    Action(
        name="track",
        title="Track event",
        trigger={
            "match": "any",
            "conditions": [{"field": "type", "op": "in", "value": ["track", "page", "screen"]}],
        },
        fields={
            "event": {
                "@if": {
                    "exists": {"@path": "$.event"},
                    "then": {"@path": "$.event"},
                    "else": {"@template": "Viewed {{name}}"},
                }
            },
            "distinct_id": USER_OR_ANONYMOUS,
            "time": {"@path": "$.timestamp"},
            "insert_id": {"@path": "$.messageId"},
            "ip": {"@path": "$.context.ip"},
            "properties": {"@path": "$.properties"},
        },
    ),
    Action(
        name="identify",
        title="Set profile properties",
        trigger={"conditions": [{"field": "type", "value": "identify"}]},
        fields={
            "distinct_id": USER_OR_ANONYMOUS,
            "ip": {"@path": "$.context.ip"},
            "traits": {"@path": "$.traits"},
        },
    ),
)


class MixpanelClient(VendorClient):
    """Speaks Mixpanel's ingestion API."""

    def __init__(self, settings: MixpanelSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        self.s = settings
        self.base = (settings.base_url or REGIONS[settings.region]).rstrip("/")

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Import events or set profile properties."""
        if action == "identify":
            return await self._engage(payloads)
        events = []
        for p in payloads:
            props = {k: v for k, v in (p.get("properties") or {}).items()}
            props.update(
                time=epoch_ms(p.get("time")),
                distinct_id=str(p.get("distinct_id") or ""),
                **{"$insert_id": str(p.get("insert_id") or "")[:36]},
            )
            if p.get("ip"):
                props["ip"] = p["ip"]
            events.append({"event": str(p.get("event") or ""), "properties": props})
        params = {"strict": "1"}
        if self.s.project_id:
            params["project_id"] = self.s.project_id
        user = self.s.service_account or self.s.api_secret.get_secret_value()
        password = self.s.api_secret.get_secret_value() if self.s.service_account else ""
        return await self.request(
            "POST",
            f"{self.base}/import",
            _failed_records,
            json_body=events,
            params=params,
            auth=(user, password),
            headers={"Accept": "application/json"},
        )

    async def _engage(self, payloads: list[dict[str, Any]]) -> Outcome:
        token = self.s.project_token.get_secret_value()
        updates = []
        for p in payloads:
            update: dict[str, Any] = {
                "$token": token,
                "$distinct_id": str(p.get("distinct_id") or ""),
                "$set": p.get("traits") or {},
            }
            if p.get("ip"):
                update["$ip"] = p["ip"]
            updates.append(update)
        outcome = await self.request(
            "POST",
            f"{self.base}/engage#profile-set",
            json_body=updates,
            headers={"Accept": "text/plain"},
        )
        if outcome.ok and outcome.body.strip() == "0":
            # Mixpanel answers 200 with body 0 when it refused the update.
            return Outcome(False, outcome.status, outcome.body, error="profile update refused")
        return outcome


def _failed_records(answer: Answer) -> dict[int, str]:
    # With strict=1 a 400 names the refused records; the others were imported.
    if answer.status != 400:
        return {}
    return indexed_refusals(
        answer.body,
        "failed_records",
        lambda r: f"{r.get('field', '')}: {r.get('message', 'refused')}",
    )


def plugin() -> DestinationFactory:
    """The Mixpanel destination."""
    return DestinationFactory(
        name="mixpanel",
        title="Mixpanel",
        category="Analytics",
        description="Events via the Import API (strict), profiles via Engage.",
        capabilities=Capabilities(batching=True, max_batch_size=2000),
        settings_model=MixpanelSettings,
        actions=ACTIONS,
        create=MixpanelClient.create,
        url_fields=("base_url",),
    )
