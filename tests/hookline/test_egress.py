"""The egress guard refuses non-public addresses, by literal and after DNS at connect time."""

from __future__ import annotations

import ipaddress

import pytest

from dispatcher.sender import Sender
from hookline.clock import SystemClock
from hookline.egress import EgressGuard, refusal
from hookline.errors import EgressRefused
from hookline.models import Claim

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
    "ff02::1",
    "::",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "2002:7f00:1::",
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(EgressRefused, match="loopback"):
        await EgressGuard(allow_private=False).check_url("http://localhost:8080/hook")


async def test_allow_private_targets_turns_the_guard_off() -> None:
    await EgressGuard(allow_private=True).check_url("http://localhost:8080/hook")


async def test_connect_time_check_refuses_after_resolution() -> None:
    """A URL that passed (or skipped) the subscription-time check is refused when the connection is
    made, because the resolver the connection uses refuses the address (no DNS rebinding)."""
    sender = Sender(EgressGuard(allow_private=False), SystemClock(), timeout=2)
    await sender.start()
    try:
        for url in ("http://localhost:1/hook", "http://127.0.0.1:1/hook", "http://[::1]:1/hook"):
            claim = Claim("dlv_1", "msg_1", "sub_1", "job_1", url, b"{}", ["whsec_" + "A" * 32], 0)
            result = await sender.send(claim)
            assert result.status_code is None
            assert result.error is not None and "egress guard" in result.error, result.error
    finally:
        await sender.close()
