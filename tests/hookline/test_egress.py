"""The egress guard refuses non-public addresses, by literal and after DNS, when a URL is accepted
and again when the guarded client connects; its exceptions are named networks, never metadata
endpoints by accident."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from dispatcher.sender import Sender
from hookline.clock import SystemClock
from hookline.egress import EgressGuard, refusal
from hookline.errors import EgressRefused
from hookline.models import Claim
from tests.conftest import Hookline

REFUSED = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "::",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "2002:7f00:1::",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1", "64:ff9b::808:808"]
NUMERIC_FORMS = ["127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433", "017700000001", "127.0.0.01"]
METADATA = ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"]


def url_of(address: str, port: int = 9) -> str:
    return f"http://[{address}]:{port}/hook" if ":" in address else f"http://{address}:{port}/hook"


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(EgressRefused, match="loopback"):
        await EgressGuard(allow_private=False).check_url("http://localhost:8080/hook")


async def test_allow_private_targets_allows_private_addresses() -> None:
    await EgressGuard(allow_private=True).check_url("http://localhost:8080/hook")


async def test_a_name_that_does_not_resolve_is_refused_even_with_private_targets_allowed() -> None:
    with pytest.raises(EgressRefused, match=r"cannot resolve 'nowhere\.invalid'"):
        await EgressGuard(allow_private=True).check_url("http://nowhere.invalid/hook")


@pytest.mark.parametrize("address", METADATA)
def test_cloud_metadata_stays_refused_with_private_targets_allowed(address: str) -> None:
    with pytest.raises(EgressRefused, match="cloud metadata endpoint"):
        EgressGuard(allow_private=True).check_ip(address)


@pytest.mark.parametrize(
    ("address", "network"), [("169.254.169.254", "169.254.169.254/32"), ("fd00:ec2::254", "fd00:ec2::/64")]
)
def test_cloud_metadata_is_allowed_when_an_allowed_network_names_it(address: str, network: str) -> None:
    EgressGuard(allow_private=True, allowed_networks=[ipaddress.ip_network(network)]).check_ip(address)


def test_an_allowed_network_lets_its_private_addresses_through_and_nothing_else() -> None:
    guard = EgressGuard(allow_private=False, allowed_networks=[ipaddress.ip_network("10.1.0.0/16")])
    guard.check_ip("10.1.2.3")
    guard.check_ip("::ffff:10.1.2.3")
    for address in ("10.2.0.1", "127.0.0.1", "169.254.169.254"):
        with pytest.raises(EgressRefused):
            guard.check_ip(address)


@pytest.mark.parametrize("host", NUMERIC_FORMS)
async def test_numeric_hosts_in_shorthand_octal_or_hex_are_refused_even_with_private_targets_allowed(
    host: str,
) -> None:
    with pytest.raises(EgressRefused, match="four decimal numbers"):
        await EgressGuard(allow_private=True).check_url(f"http://{host}/hook")


# --- at connect time, through the guarded client ---------------------------------------------------
def claim(url: str) -> Claim:
    return Claim("dlv_1", "msg_1", "sub_1", "job_1", url, b"{}", ["whsec_" + "A" * 32], 0)


async def attempt(guard: EgressGuard, url: str) -> str | None:
    sender = Sender(guard, SystemClock(), timeout=2)
    await sender.start()
    try:
        result = await sender.send(claim(url))
    finally:
        await sender.close()
    assert result.status_code is None
    return result.error


@pytest.mark.parametrize("address", REFUSED)
async def test_every_refused_address_is_refused_when_the_client_connects(address: str) -> None:
    error = await attempt(EgressGuard(allow_private=False), url_of(address))
    assert error is not None and error.startswith("refused by the egress guard"), error


@pytest.mark.parametrize("host", ["localhost", *NUMERIC_FORMS])
async def test_names_and_numeric_forms_are_refused_when_the_client_connects(host: str) -> None:
    error = await attempt(EgressGuard(allow_private=False), f"http://{host}:9/hook")
    assert error is not None and error.startswith("refused by the egress guard"), error


@pytest.mark.parametrize("address", METADATA)
async def test_cloud_metadata_is_refused_when_the_client_connects_with_private_targets_allowed(address: str) -> None:
    error = await attempt(EgressGuard(allow_private=True), url_of(address, 80))
    assert error is not None and "cloud metadata endpoint" in error, error


async def test_a_name_that_does_not_resolve_when_connecting_is_an_error_that_may_pass() -> None:
    error = await attempt(EgressGuard(allow_private=False), "http://nowhere.invalid:9/hook")
    assert error is not None and error.startswith("cannot resolve 'nowhere.invalid'"), error


# --- at subscription time -------------------------------------------------------------------------
async def refused_subscriptions(h: Hookline, urls: list[str]) -> dict[str, Any]:
    """The URLs hookline did NOT refuse with 400 url_refused (empty when every one was refused)."""
    accepted = {}
    for url in urls:
        response = await h.admin.post("/v1/subscriptions", json={"url": url})
        if response.status_code != 400 or response.json()["error"]["code"] != "url_refused":
            accepted[url] = (response.status_code, response.text[:200])
    return accepted


async def test_every_refused_address_is_refused_when_subscribing(hookline_factory: Any, database_url: str) -> None:
    h = await hookline_factory(database_url, ALLOW_PRIVATE_TARGETS="false")
    urls = [url_of(a) for a in REFUSED] + [f"http://{host}/hook" for host in ("localhost", *NUMERIC_FORMS)]
    assert await refused_subscriptions(h, urls) == {}


async def test_metadata_and_unresolvable_names_are_refused_when_subscribing_with_private_targets_allowed(
    hookline_factory: Any, database_url: str
) -> None:
    h = await hookline_factory(database_url)  # the tests' default: ALLOW_PRIVATE_TARGETS=true
    urls = [url_of(a, 80) for a in METADATA] + ["http://nowhere.invalid/hook", "http://127.1/hook"]
    assert await refused_subscriptions(h, urls) == {}


async def test_an_allowed_network_is_subscribable_without_private_targets(
    hookline_factory: Any, database_url: str
) -> None:
    h = await hookline_factory(database_url, ALLOW_PRIVATE_TARGETS="false", ALLOWED_NETWORKS="127.0.0.0/8")
    assert (await h.admin.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"})).status_code == 201
    assert await refused_subscriptions(h, ["http://10.0.0.1/hook", "http://[::1]:9/hook"]) == {}


async def test_https_only_refuses_http_subscriptions_and_callback_urls(
    hookline_factory: Any, database_url: str
) -> None:
    h = await hookline_factory(database_url, HTTPS_ONLY="true")
    subscription = await h.admin.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"})
    job = await h.admin.post(
        "/v1/jobs", json={"provider": "mjproxy", "correlation_key": "k1", "callback_url": "http://127.0.0.1:9/h"}
    )
    for response, name in ((subscription, "url"), (job, "callback_url")):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "url_refused" and error["message"].startswith(f"{name} must be an https:// URL")
    assert (await h.admin.post("/v1/subscriptions", json={"url": "https://127.0.0.1:9/hook"})).status_code == 201
