"""``HOOKLINE_EGRESS_PROXY`` against a real proxy: Debian's tinyproxy, started on loopback by the
test, with subscribers and an image host behind it. Plain http goes to it in absolute form, https
through CONNECT; the egress guard judges the target before the proxy hears of it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dispatcher.sender import Sender
from hookline.clock import SystemClock
from hookline.egress import EgressGuard
from simulator import png
from tests.dispatcher.rawsub import raw_subscriber, send
from tests.dispatcher.test_http import claim, deliver_lifecycle, subscribe, tls_subscriber
from tests.support import Subscriber, free_port, run_server, wait_for
from upstream.images import ImageFetcher

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Proxy:
    url: str
    log: Path

    def requests(self) -> list[str]:
        """The request lines tinyproxy logged (``POST http://...`` or ``CONNECT host:port``)."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [line.split("): ", 1)[1] for line in lines if "Request (file descriptor" in line]


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Proxy]:
    """tinyproxy on a loopback port, for this test only."""
    exe = shutil.which("tinyproxy") or ("/usr/bin/tinyproxy" if Path("/usr/bin/tinyproxy").exists() else None)
    if exe is None:
        if IN_CI:
            pytest.fail("tinyproxy is required in CI (.ci/run installs it: apt-get install -y tinyproxy)")
        pytest.skip("tinyproxy is not installed (apt-get install -y tinyproxy)")
    port = free_port()
    log = tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"
    # No ConnectPort line: CONNECT is allowed to any port (the test subscribers' ports are random).
    conf.write_text(
        f'Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile "{log}"\nLogLevel Info\n'
        f'PidFile "{tmp_path / "tinyproxy.pid"}"\nMaxClients 64\nAllow 127.0.0.1\n'
    )
    with (tmp_path / "tinyproxy.err").open("wb") as err:
        process = subprocess.Popen([exe, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=err)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"tinyproxy exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        return False

    try:
        await wait_for(listening, what="tinyproxy to listen")
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def send_once(guard: EgressGuard, url: str, ssl_context: ssl.SSLContext | None = None) -> Any:
    sender = Sender(guard, SystemClock(), timeout=5, ssl_context=ssl_context)
    await sender.start()
    try:
        return await sender.send(claim(url))
    finally:
        await sender.close()


async def test_a_lifecycle_is_delivered_through_the_proxy(
    hookline_factory: Any, database_url: str, proxy: Proxy, subscriber: tuple[Subscriber, str]
) -> None:
    h = await hookline_factory(database_url, EGRESS_PROXY=proxy.url)
    sink, url = subscriber
    await subscribe(h, f"{url}/hook")
    found = await deliver_lifecycle(h)
    assert [d["attempts"] for d in found] == [1] * 9
    assert all("tinyproxy" in r.headers.get("via", "") for r in sink.received), sink.received[0].headers
    assert proxy.requests().count(f"POST {url}/hook HTTP/1.1") == 9  # absolute form


async def test_https_goes_through_the_proxy_with_connect(proxy: Proxy, tmp_path: Path) -> None:
    ca = trustme.CA()
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    async with tls_subscriber(ca, tmp_path) as port:
        result = await send_once(EgressGuard(True, proxy=proxy.url), f"https://localhost:{port}/hook", trusted)
    assert (result.status_code, result.error) == (200, None)
    assert f"CONNECT localhost:{port} HTTP/1.1" in proxy.requests()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_guard_refuses_a_target_before_the_proxy_hears_of_it(proxy: Proxy, host: str) -> None:
    async def ok(n: int, writer: asyncio.StreamWriter) -> bool:
        await send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    async with raw_subscriber(ok) as (sub, url):
        target = url.replace("127.0.0.1", host)
        result = await send_once(EgressGuard(False, proxy=proxy.url), f"{target}/hook")
    assert result.error.startswith("refused by the egress guard"), result.error
    assert sub.requests == [] and proxy.requests() == []


async def test_an_allowed_network_reaches_its_target_through_a_proxy_named_by_host(proxy: Proxy) -> None:
    """The proxy's own address is the operator's choice and is not judged; the target is."""

    async def ok(n: int, writer: asyncio.StreamWriter) -> bool:
        await send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    guard = EgressGuard(
        False, allowed_networks=[ip_network("::1/128")], proxy=proxy.url.replace("127.0.0.1", "localhost")
    )
    async with raw_subscriber(ok, "::1") as (sub, url):
        result = await send_once(guard, f"{url}/hook")
    assert (result.status_code, result.error) == (200, None)
    assert len(sub.requests) == 1 and b"tinyproxy" in sub.requests[0][0].lower()


async def test_a_target_that_does_not_resolve_is_not_handed_to_the_proxy(proxy: Proxy) -> None:
    result = await send_once(EgressGuard(True, proxy=proxy.url), "http://nowhere.invalid/hook")
    assert result.error.startswith("cannot resolve 'nowhere.invalid'") and proxy.requests() == []


async def test_a_proxy_that_is_down_is_a_failed_attempt_saying_so() -> None:
    result = await send_once(EgressGuard(True, proxy="http://127.0.0.1:1"), "http://127.0.0.1:9/hook")
    assert result.error.startswith("cannot connect to the egress proxy"), result.error


async def test_image_downloads_go_through_the_proxy(proxy: Proxy) -> None:
    image = png.render(8, 8, "proxied")
    vias: list[str] = []

    async def serve(request: Request) -> Response:
        vias.append(request.headers.get("via", ""))
        return Response(image, media_type="image/png")

    async with run_server(Starlette(routes=[Route("/x.png", serve)]), lifespan="off") as url:
        async with ImageFetcher(EgressGuard(True, proxy=proxy.url)) as fetcher:
            got = await fetcher.fetch(f"{url}/x.png", 1 << 20)
    assert got.data == image and len(vias) == 1 and "tinyproxy" in vias[0]
