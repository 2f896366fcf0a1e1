"""Private-address protection, timeouts and bounded answers of the shared HTTP client."""

from __future__ import annotations

import socket

import pytest

from shoal.destinations.http import GuardedResolver, HttpClient
from shoal.destinations.safety import AddressPolicy, UnsafeURL
from tests.destinations.receiver import Received, Receiver, Reply

STRICT = AddressPolicy()
LOOPBACK = AddressPolicy.of(False, ["127.0.0.0/8"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "http:///nohost",
    ],
)
def test_private_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        STRICT.check_url(url)


def test_public_urls_and_allowed_networks_pass() -> None:
    assert STRICT.check_url("https://api.mixpanel.com/import") == "https://api.mixpanel.com/import"
    assert LOOPBACK.check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"
    with pytest.raises(UnsafeURL):
        LOOPBACK.check_url("http://10.0.0.1/")
    assert AddressPolicy(allow_private=True).check_url("http://10.0.0.1/")


async def test_resolver_drops_private_addresses() -> None:
    resolver = GuardedResolver(STRICT)
    try:
        with pytest.raises(UnsafeURL):
            await resolver.resolve("localhost", 80)
        allowed = await GuardedResolver(LOOPBACK).resolve("localhost", 80)
        assert {r["host"] for r in allowed} <= {"127.0.0.1"}
    finally:
        await resolver.close()


async def test_names_resolving_to_private_addresses_are_refused_at_connect() -> None:
    # This machine's own name resolves to a loopback or private address, which a URL check
    # without DNS cannot see; the connection must still be refused.
    name = socket.gethostname()
    with Receiver() as receiver:
        http = HttpClient(STRICT, timeout=2)
        try:
            url = receiver.url.replace("127.0.0.1", name) + "/x"
            answer = await http.request("POST", url, data=b"{}")
        finally:
            await http.close()
    assert answer.status is None and answer.error and answer.error.startswith("refused:")
    assert not answer.retryable
    assert receiver.accepted() == []


async def test_timeouts_and_bounded_bodies() -> None:
    def huge(_request: Received) -> Reply:
        return 200, "x" * 1_000_000

    with Receiver(huge) as receiver:
        http = HttpClient(LOOPBACK, timeout=1, max_body=2048)
        try:
            answer = await http.request("GET", receiver.url)
            assert answer.status == 200 and len(answer.body) == 2048
            receiver.delay = 2
            slow = await http.request("GET", receiver.url)
        finally:
            await http.close()
    assert slow.status is None and slow.retryable and "timeout" in (slow.error or "")


async def test_retry_after_is_read() -> None:
    def limited(_request: Received) -> Reply:
        return 429, {"error": "rate"}, {"Retry-After": "7"}

    with Receiver(limited) as receiver:
        http = HttpClient(LOOPBACK, timeout=2)
        try:
            answer = await http.request("POST", receiver.url, data=b"{}")
        finally:
            await http.close()
    assert answer.retryable and answer.retry_after() == 7.0
