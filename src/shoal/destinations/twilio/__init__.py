"""Twilio (SMS & Push Notifications): text messages through the Messages resource.

``POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic auth
``AccountSid:AuthToken``, form-encoded ``To``, ``From`` (or ``MessagingServiceSid``) and
``Body``. Twilio answers 201 with the message resource; errors carry a Twilio ``code``
(e.g. 21211, invalid ``To``), and 429 (code 20429) when over the rate limit.

The default mapping sends a text for ``track`` calls that carry ``properties.sms_body``;
most workspaces replace it with their own trigger and an ``@template`` body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shoal.destinations.base import Action, Capabilities, DestinationFactory, Outcome
from shoal.destinations.http import HttpClient
from shoal.destinations.vendor import trait
from shoal.destinations.vendor_client import VendorClient


class TwilioSettings(BaseModel):
    """Account and sender."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: str | None = Field(default=None, description="E.164 sender, e.g. +15005550006")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    base_url: str = "https://api.twilio.com"

    @model_validator(mode="after")
    def _sender(self) -> TwilioSettings:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("set from_number or messaging_service_sid")
        return self


ACTIONS = (
    Action(
        name="send_sms",
        title="Send SMS",
        trigger={
            "conditions": [
                {"field": "type", "value": "track"},
                {"field": "properties.sms_body", "op": "exists"},
            ]
        },
        fields={
            "to": {
                "@if": {
                    "exists": {"@path": "$.properties.phone"},
                    "then": {"@path": "$.properties.phone"},
                    "else": trait("phone"),
                }
            },
            "body": {"@path": "$.properties.sms_body"},
        },
    ),
)


class TwilioClient(VendorClient):
    """One message per request."""

    def __init__(self, settings: TwilioSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        self.s = settings
        self.url = (
            f"{settings.base_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}"
            "/Messages.json"
        )

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """Create one message."""
        del action
        p = payloads[0]
        if not p.get("to") or not p.get("body"):
            return Outcome(False, None, error="no phone number or body to send", retryable=False)
        form = {"To": str(p["to"]), "Body": str(p["body"])[:1600]}
        if self.s.messaging_service_sid:
            form["MessagingServiceSid"] = self.s.messaging_service_sid
        else:
            form["From"] = str(self.s.from_number)
        return await self.request(
            "POST",
            self.url,
            data=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(self.s.account_sid, self.s.auth_token.get_secret_value()),
        )


def plugin() -> DestinationFactory:
    """The Twilio SMS destination."""
    return DestinationFactory(
        name="twilio_sms",
        title="Twilio SMS",
        category="SMS & Push Notifications",
        description="Text messages triggered by events.",
        capabilities=Capabilities(batching=False, event_types=("track",)),
        settings_model=TwilioSettings,
        actions=ACTIONS,
        create=TwilioClient.create,
        url_fields=("base_url",),
    )
