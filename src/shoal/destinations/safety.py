"""Keeps destinations from reaching into the server's own network (SSRF).

A webhook URL is chosen by any workspace member, so without a check it could point at
``127.0.0.1:5432``, a cloud metadata service on ``169.254.169.254`` or an internal admin
panel. URLs are checked twice: when configured (literal addresses and ``localhost``, for a
clear 422) and at connect time, on the addresses DNS actually returned (so a name that
resolves to a private address, or is re-pointed later, is refused too).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeURL(ValueError):
    """A URL a destination must not be sent to."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which non-public addresses destinations may reach (none by default)."""

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, networks: Iterable[str]) -> AddressPolicy:
        """Build a policy from the server settings; bad CIDRs raise ``ValueError``."""
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def permits(self, address: str) -> bool:
        """Whether a connection to ``address`` (an IP literal) is allowed."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed):
            return True
        if self.allow_private:
            return True
        return ip.is_global and not ip.is_multicast

    def check_url(self, url: str) -> str:
        """Return ``url`` if it may be used as a destination endpoint, else raise ``UnsafeURL``.

        Only literal addresses and ``localhost`` can be judged without DNS; host names are
        checked again on every connection by :class:`GuardedResolver`.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeURL(f"{url!r} is not an http(s) URL")
        host = parts.hostname
        if not host:
            raise UnsafeURL(f"{url!r} has no host")
        try:
            _ = parts.port
        except ValueError as exc:
            raise UnsafeURL(f"{url!r} has an invalid port") from exc
        if host == "localhost" or host.endswith(".localhost"):
            host = "127.0.0.1"
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return url  # a name: judged on the addresses it resolves to
        if not self.permits(host):
            raise UnsafeURL(
                f"{url!r} points at a loopback, link-local or private address; the server "
                "setting SHOAL_DESTINATIONS_ALLOWED_NETWORKS (or "
                "SHOAL_DESTINATIONS_ALLOW_PRIVATE_URLS) must allow it"
            )
        return url
