"""Where a webhook may be sent: its URL's shape, and the addresses its host resolves to.

Checked when a subscription is created or changed, and again before every POST on the
addresses resolved then; the POST goes to one of those very addresses (the host name
only as the ``Host`` header and TLS server name), so a name that resolves to a public
address at create time and to ``127.0.0.1`` later (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import InvalidInput
from webapi.webhooks.settings import WebhookSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (socket.getaddrinfo's, by default).
Resolver = Callable[[str, int], list[str]]
MAX_URL_LENGTH = 2048


class TargetRefused(InvalidInput):
    """The webhook's target is not allowed."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its scheme, host name, port and the request path with its query."""

    scheme: str
    host: str
    port: int
    path: str


def system_resolver(host: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"url: the host {host} cannot be resolved ({error})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def parse(url: str, settings: WebhookSettings) -> Target:
    """The URL's parts, or a 400 naming what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"url: at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"url: not a valid URL ({error})") from None
    allowed = ("https", "http") if settings.allow_http else ("https",)
    if parts.scheme not in allowed:
        schemes = " or ".join(f"{s}://" for s in allowed)
        raise TargetRefused(f"url: must start with {schemes}")
    if not parts.hostname:
        raise TargetRefused("url: has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url: may not carry a user name or password")
    default = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or default, path)


def addresses(target: Target, settings: WebhookSettings, resolve: Resolver) -> list[str]:
    """The target's addresses, each one allowed, or a 400 naming the one that is not."""
    found = resolve(target.host, target.port)
    if not found:
        raise TargetRefused(f"url: the host {target.host} has no address")
    if not settings.allow_private:
        for address in found:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise TargetRefused(
                    f"url: {target.host} resolves to {address}, a loopback, link-local or "
                    "private address, which webhooks may not reach"
                )
    return found


def is_public(address: IPAddress) -> bool:
    """Globally routable (an IPv4 address mapped into IPv6 judged as itself)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check(url: str, settings: WebhookSettings, resolve: Resolver) -> Target:
    """A URL a subscription may use (its host resolved and checked now)."""
    target = parse(url, settings)
    addresses(target, settings, resolve)
    return target
