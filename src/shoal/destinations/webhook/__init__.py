"""Generic webhook: JSON to any URL, one event per request or batched, HMAC-signed.

Single mode sends the (mapped) message as the body. Batch mode sends
``{"batch": [...], "sentAt": "<ISO 8601>"}``. With a shared secret every request carries
``X-Shoal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``; receivers
recompute it and reject stale ``t`` values to stop replayed requests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shoal import __version__
from shoal.destinations.base import Action, Capabilities, DestinationFactory, Outcome
from shoal.destinations.http import HttpClient
from shoal.destinations.vendor_client import VendorClient

_ENCODE = msgspec.json.Encoder().encode
SIGNATURE_HEADER = "X-Shoal-Signature"


class WebhookSettings(BaseModel):
    """Where and how to post."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, description="http(s) endpoint")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    shared_secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers")
    batch: bool = True
    batch_size: int = Field(default=500, ge=1, le=1000)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance: float = 300.0) -> bool:
    """Check a signature header (what a receiver does); stale timestamps fail."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookClient(VendorClient):
    """Posts payloads to the configured URL."""

    settings: WebhookSettings

    def __init__(self, settings: WebhookSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Shoal/{__version__}",
            **settings.headers,
        }

    async def send(self, action: str, payloads: list[dict[str, Any]]) -> Outcome:
        """One request: the payload alone, or a batch envelope."""
        del action
        if self.settings.batch:
            sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            body = _ENCODE({"batch": payloads, "sentAt": sent_at})
        else:
            body = _ENCODE(payloads[0])
        headers = dict(self.headers)
        if self.settings.shared_secret is not None:
            secret = self.settings.shared_secret.get_secret_value()
            headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
        return await self.request(
            self.settings.method, self.settings.url, data=body, headers=headers
        )


def plugin() -> DestinationFactory:
    """The webhook destination."""
    return DestinationFactory(
        name="webhook",
        title="Webhook",
        category="Raw Data",
        description="Posts events as JSON to any HTTP endpoint, signed with HMAC-SHA256.",
        capabilities=Capabilities(batching=True, max_batch_size=1000),
        settings_model=WebhookSettings,
        actions=(
            Action(
                name="send",
                title="Send event",
                trigger={"match": "all", "conditions": []},
                fields=None,
                description="The whole message, or the fields a mapping sets.",
            ),
        ),
        create=WebhookClient.create,
        url_fields=("url",),
    )
