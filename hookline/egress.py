"""The egress policy, and the one guarded aiohttp session every URL from outside is fetched with.

Policy (``EgressGuard``): hookline does not connect to loopback, private, link-local, site-local,
multicast, reserved or otherwise non-public addresses (IPv4 and IPv6, including the IPv4 inside
IPv4-mapped, 6to4 and NAT64 addresses) unless ``HOOKLINE_ALLOW_PRIVATE_TARGETS`` is set or the
address is inside a network of ``HOOKLINE_ALLOWED_NETWORKS``. Cloud metadata endpoints
(169.254.169.254, fd00:ec2::254, ...) stay refused even with ``ALLOW_PRIVATE_TARGETS``: only an
allowed network that contains them lets them through. A host written as a shorthand, octal or hex
number (``127.1``, ``0177.0.0.1``, ``0x7f.0.0.1``, ``2130706433``) is always refused: programs
disagree on which address it means.

It checks twice: when a URL is accepted (``check_url``: resolvable, and every address allowed; a
clear 400 for the caller), and again whenever a connection is made (``client_session``): IP
literals by the connector, names by a resolver that returns only the addresses it checked, so the
connection goes to what was checked and a name that re-resolves to a private address is refused
(no DNS rebinding). One forbidden address among public ones refuses the whole name.

With ``HOOKLINE_EGRESS_PROXY`` every request goes through that HTTP proxy (CONNECT for https,
absolute-form for http). The proxy is the operator's, so its own address is not checked; the
target is resolved and checked here before it is handed to the proxy.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from hookline.errors import EgressRefused

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

    from hookline.config import Config

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services (AWS, GCP, Azure, OCI, DigitalOcean; AWS ECS task credentials; Alibaba;
# AWS over IPv6): one request there can hand out the machine's cloud credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# Every label a number (decimal, octal or hex): what inet_aton and browsers read as an IPv4 address.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?$", re.IGNORECASE)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$")

# Set to True by the guarded connector in the task that opened a new connection: a request that
# failed without one was sent on a pooled keep-alive connection (see ``dispatcher.sender``).
new_connection: contextvars.ContextVar[bool] = contextvars.ContextVar("hookline_egress_new_connection", default=False)


class Unresolvable(EgressRefused):
    """The name did not resolve, so its addresses could not be checked. Unlike the other
    refusals this may change: a caller that can try again later should."""


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64), else ``ip`` itself:
    the address the packets end up at is the one to judge."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return embedded
        if any(ip in net for net in _NAT64):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress) -> str | None:
    """Why connecting to ``ip`` is refused when private targets are not allowed, or None when it
    is a public address."""
    ip = unwrap(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return "a Teredo tunnel address"
        if ip.is_site_local:
            return "a site-local address (fec0::/10)"
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


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address (brackets and an IPv6 zone ``%eth0`` / ``%25eth0`` ignored), or
    None when it is a name. Raises EgressRefused for a host that is a number but not written as a
    plain dotted quad: ``127.1`` or ``0177.0.0.1`` mean different addresses to different programs."""
    host = host.strip("[]").split("%", 1)[0]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise EgressRefused(f"{host!r} is not a valid IPv6 address") from None
    if _NUMERIC_HOST.match(host):
        if not _CANONICAL_IPV4.match(host.rstrip(".")):
            raise EgressRefused(
                f"{host!r} is an IPv4 address in shorthand, octal or hex form, which programs read "
                "differently; write it as four decimal numbers (a.b.c.d)"
            )
        return ipaddress.IPv4Address(host.rstrip("."))
    return None


class EgressGuard:
    """The egress policy: which addresses hookline may connect to, and through which proxy.

    ``allow_private`` allows every non-public address except cloud metadata endpoints;
    ``allowed_networks`` allows the addresses inside them, metadata endpoints included."""

    def __init__(
        self, allow_private: bool, allowed_networks: Iterable[IPNetwork] = (), proxy: str | None = None
    ) -> None:
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        self.proxy = proxy
        self.proxy_host = (urlsplit(proxy).hostname or "").lower() if proxy else None

    @classmethod
    def from_config(cls, config: Config) -> EgressGuard:
        d = config.delivery
        return cls(d.allow_private_targets, d.allowed_networks, d.egress_proxy)

    def why_refused(self, ip: IPAddress) -> str | None:
        """Why ``ip`` is refused under this policy (a sentence a person can act on), or None."""
        target = unwrap(ip)
        if any(target in net or ip in net for net in self.allowed_networks):
            return None
        if target in METADATA_ADDRESSES:
            return (
                f"{ip} is a cloud metadata endpoint, refused even with HOOKLINE_ALLOW_PRIVATE_TARGETS "
                "(name its network in HOOKLINE_ALLOWED_NETWORKS to allow it)"
            )
        if self.allow_private:
            return None
        reason = refusal(ip)
        if reason is None:
            return None
        return (
            f"{ip} is {reason}; hookline only connects to public addresses (set "
            "HOOKLINE_ALLOW_PRIVATE_TARGETS=true, or add its network to HOOKLINE_ALLOWED_NETWORKS)"
        )

    def check_ip(self, host: str) -> None:
        """Raise EgressRefused unless ``host`` (an IP address) is allowed."""
        ip = parse_ip(host)
        if ip is None:
            raise EgressRefused(f"{host!r} is not an IP address")
        self._check(ip)

    def _check(self, ip: IPAddress) -> None:
        reason = self.why_refused(ip)
        if reason is not None:
            raise EgressRefused(reason)

    def check_literal(self, host: str) -> bool:
        """Check ``host`` if it is an IP literal (raise EgressRefused when refused) and say whether
        it was one; a name is left to the resolver."""
        ip = parse_ip(host)
        if ip is None:
            return False
        self._check(ip)
        return True

    async def check_host(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return its addresses; raise EgressRefused when it does not resolve
        or any of its addresses is refused."""
        if self.check_literal(host):
            return [host.strip("[]")]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            detail = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
            raise Unresolvable(f"cannot resolve {host!r}: {detail}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check_ip(address)
        return addresses

    async def check_url(self, url: str) -> None:
        """Raise EgressRefused unless the URL's host resolves and every address is allowed (the
        check at the time a URL is accepted; connections are checked again when made)."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self.check_host(parts.hostname or "", port)

    def resolver(self) -> AbstractResolver:
        return GuardedResolver(self)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that returns a name's addresses only when every one is allowed. The
    configured proxy's own name is the operator's and is not checked."""

    def __init__(self, guard: EgressGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)  # a failure is aiohttp's DNS error
        if host.lower() != self._guard.proxy_host:
            for result in results:
                self._guard.check_ip(result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector that runs the guard on every new connection: IP literals here (aiohttp
    does not resolve those), names through ``GuardedResolver``; through a proxy the target is
    resolved and checked here, since aiohttp hands the name to the proxy unresolved."""

    def __init__(self, guard: EgressGuard, **kwargs: Any) -> None:
        super().__init__(resolver=guard.resolver(), **kwargs)
        self._guard = guard

    async def _create_connection(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:
        host = req.url.raw_host or ""
        if not self._guard.check_literal(host) and req.proxy is not None:
            await self._guard.check_host(host, req.port or 80)
        new_connection.set(True)
        return await super()._create_connection(req, traces, timeout)


def client_session(
    guard: EgressGuard,
    *,
    timeout: float,
    limit: int = 100,
    ssl_context: ssl.SSLContext | None = None,
    user_agent: str = "hookline",
    read_bufsize: int = 2**16,
) -> aiohttp.ClientSession:
    """The aiohttp session for URLs from outside (subscribers, ``callback_url``, image hosts).

    Every connection is guarded (see the module docstring) and goes through ``guard.proxy`` when
    one is set; ``timeout`` is one deadline for connect, send and answer; answers are not
    decompressed (only a few KiB of them are kept, and a small gzip can inflate to gigabytes);
    no cookies are kept; redirects are the caller's business (pass ``allow_redirects=False``).
    Call it inside the running loop and close the session when done."""
    connector = GuardedConnector(
        guard,
        limit=limit,
        ttl_dns_cache=10,
        ssl=ssl_context if ssl_context is not None else True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        proxy=guard.proxy,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        read_bufsize=read_bufsize,
        trust_env=False,
    )
