"""The egress guard: hookline does not connect to loopback, private, link-local, multicast,
reserved or otherwise non-public addresses (IPv4 and IPv6, including IPv4-mapped IPv6 and cloud
metadata endpoints such as 169.254.169.254) unless ``HOOKLINE_ALLOW_PRIVATE_TARGETS`` is set.

It checks twice: when a URL is accepted (``check_url``, a clear 400 for the caller), and again at
connect time after DNS resolution (``GuardedResolver`` for aiohttp: the addresses it returns are
the ones the connection uses, so a name that re-resolves to a private address is still refused).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from hookline.errors import EgressRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(ip: IPAddress) -> str | None:
    """Why connecting to ``ip`` is refused, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return refusal(mapped)
        if ip.teredo is not None:
            return "a Teredo tunnel address"
    for test, label in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (this includes cloud metadata endpoints)"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(ip, test):
            return label
    if not ip.is_global:
        return "not a public address"
    return None


class EgressGuard:
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._literal_verdicts: dict[str, str] = {}  # url → "" (allowed) or why it is refused

    def check_ip(self, host: str) -> None:
        """Raise EgressRefused when ``host`` (an IP address) is not allowed."""
        if self.allow_private:
            return
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        reason = refusal(ip)
        if reason is not None:
            raise EgressRefused(
                f"{host} is {reason}; hookline only connects to public addresses "
                "(set HOOKLINE_ALLOW_PRIVATE_TARGETS=true to allow private ones)"
            )

    async def check_url(self, url: str) -> None:
        """Resolve the URL's host and raise EgressRefused unless every address is allowed."""
        if self.allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        if _is_ip(host):
            self.check_ip(host)
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise EgressRefused(f"cannot resolve {host!r}: {exc.strerror}") from None
        for info in infos:
            self.check_ip(str(info[4][0]))

    def check_literal(self, url: str) -> None:
        """Check a URL whose host is an IP literal (aiohttp does not resolve those). Runs before
        every delivery attempt, so the verdict per URL is remembered (a URL's host never changes)."""
        if self.allow_private:
            return
        verdict = self._literal_verdicts.get(url)
        if verdict is None:
            host = urlsplit(url).hostname or ""
            try:
                if _is_ip(host):
                    self.check_ip(host)
                verdict = ""
            except EgressRefused as exc:
                verdict = str(exc)
            if len(self._literal_verdicts) > 10_000:
                self._literal_verdicts.clear()
            self._literal_verdicts[url] = verdict
        if verdict:
            raise EgressRefused(verdict)

    def resolver(self) -> AbstractResolver:
        return GuardedResolver(self)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses names resolving to a forbidden address (all or nothing:
    one forbidden address among public ones refuses the name, which defeats DNS rebinding)."""

    def __init__(self, guard: EgressGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._guard.check_ip(result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
