"""Every legal HTTP answer is a delivery: subscribers on raw sockets answer with each framing a real
server may use (IPv4 and IPv6 loopback), and a whole job lifecycle arrives, one attempt per event,
in order. Broken answers are failed attempts; redirects are not followed; one deadline."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvicorn

from dispatcher.sender import RESPONSE_BODY_CAP, Sender
from hookline.clock import SystemClock
from hookline.egress import EgressGuard
from hookline.events import build_event
from hookline.models import Claim, Job
from tests.conftest import Hookline
from tests.dispatcher.rawsub import Answer, raw_subscriber, send
from tests.support import MJPROXY_LIFECYCLE, Subscriber, fixture_bytes, wait_for

FAST_RETRIES = {"RETRY_SCHEDULE": "0.1,0.1"}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nthanks"


async def http10_close_delimited(n: int, writer: asyncio.StreamWriter) -> bool:
    await send(writer, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthanks")
    return False  # the end of the body is the end of the connection


async def http11_close_delimited(n: int, writer: asyncio.StreamWriter) -> bool:
    await send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthanks")
    return False  # no length, not chunked: RFC 9112 §6.3 (8), the body runs to the close


async def chunked_with_trailers(n: int, writer: asyncio.StreamWriter) -> bool:
    await send(
        writer,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\n\r\n"
        b"3\r\ntha\r\n3\r\nnks\r\n0\r\nX-Digest: abc\r\n\r\n",
    )
    return True


async def continue_then_answer(n: int, writer: asyncio.StreamWriter) -> bool:
    await send(writer, b"HTTP/1.1 100 Continue\r\n\r\n")
    await send(writer, OK)
    return True


async def closes_while_idle(n: int, writer: asyncio.StreamWriter) -> bool:
    await send(writer, OK)
    return False  # keep-alive implied (HTTP/1.1, a length), then closed without a word


async def huge_body(n: int, writer: asyncio.StreamWriter) -> bool:
    await send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
    for _ in range(1024):  # 64 MiB at most: the client drops the connection long before
        await send(writer, b"x" * 65536)
    return False


FRAMINGS: dict[str, Answer] = {
    "http/1.0 close-delimited": http10_close_delimited,
    "http/1.1 close-delimited": http11_close_delimited,
    "chunked with trailers": chunked_with_trailers,
    "100 continue first": continue_then_answer,
    "keep-alive closed while idle": closes_while_idle,
    "huge body": huge_body,
}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'framing.db'}"


async def subscribe(h: Hookline, url: str) -> None:
    response = await h.admin.post("/v1/subscriptions", json={"url": url})
    assert response.status_code == 201, response.text


async def deliveries(h: Hookline) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await h.admin.get("/v1/deliveries", params={"limit": "100"})).json()["items"]
    return items


async def deliver_lifecycle(h: Hookline) -> list[dict[str, Any]]:
    """Post a whole mjproxy lifecycle; wait until its 9 events are delivered; return the deliveries."""
    for name in MJPROXY_LIFECYCLE:
        assert (await h.post_callback("mjproxy", fixture_bytes(name))).status_code == 200

    async def all_delivered() -> list[dict[str, Any]] | None:
        found = await deliveries(h)
        return found if len(found) == 9 and all(d["status"] == "delivered" for d in found) else None

    found: list[dict[str, Any]] = await wait_for(all_delivered, timeout=30, what="9 delivered events")
    return found


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("framing", FRAMINGS)
async def test_every_framing_gets_a_whole_lifecycle_one_attempt_per_event_in_order(
    hookline_factory: Any, sqlite_url: str, framing: str, host: str
) -> None:
    h = await hookline_factory(sqlite_url, **FAST_RETRIES)
    async with raw_subscriber(FRAMINGS[framing], host) as (sub, url):
        await subscribe(h, f"{url}/hook")
        found = await deliver_lifecycle(h)
        assert [d["attempts"] for d in found] == [1] * 9
        assert [e["data"]["sequence"] for e in sub.events()] == list(range(1, 10))


async def test_an_answer_cut_short_is_one_failed_attempt_then_a_delivery(
    hookline_factory: Any, sqlite_url: str
) -> None:
    async def cut_short_once(n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 1:
            await send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly 21 bytes of 100")
            return False
        await send(writer, OK)
        return True

    h = await hookline_factory(sqlite_url, **FAST_RETRIES)
    async with raw_subscriber(cut_short_once) as (sub, url):
        await subscribe(h, f"{url}/hook")
        await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

        async def delivered() -> list[dict[str, Any]]:
            return [d for d in await deliveries(h) if d["status"] == "delivered"]

        (delivery,) = await wait_for(delivered, what="the delivery after a cut-short answer")
    log = (await h.admin.get(f"/v1/deliveries/{delivery['id']}")).json()["attempt_log"]
    assert len(log) == 2 and "cut short" in log[0]["error"] and log[1]["status_code"] == 200
    assert len(sub.requests) == 2


class _PlainHandler(http.server.BaseHTTPRequestHandler):
    """The simplest subscriber there is: HTTP/1.0, no Content-Length, closes after answering."""

    received: list[bytes]

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def python_http_server() -> Iterator[tuple[list[bytes], str]]:
    received: list[bytes] = []
    handler = type("Handler", (_PlainHandler,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_pythons_http_server_gets_a_whole_lifecycle_one_attempt_per_event(
    hookline_factory: Any, database_url: str
) -> None:
    h = await hookline_factory(database_url)
    with python_http_server() as (received, url):
        await subscribe(h, f"{url}/hook")
        found = await deliver_lifecycle(h)
    assert [d["attempts"] for d in found] == [1] * 9
    assert len(received) == 9


# --- one attempt, at the sender ------------------------------------------------------------------
def event_body() -> bytes:
    """A real job.submitted event, as the test subscribers check every event they get."""
    job = Job.new("job_1", "mjproxy", 1_790_000_000.0, origin="registered", correlation_key="k")
    job.status, job.sequence = "submitted", 1
    return build_event(job, "job.submitted", 1_790_000_001.0, upstream=b'{"id": "1"}', callback_id=None).payload


def claim(url: str) -> Claim:
    return Claim("dlv_1", "msg_1", "sub_1", "job_1", url, event_body(), ["whsec_" + "A" * 32], 0)


@contextlib.asynccontextmanager
async def sender(timeout: float = 5, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Sender]:
    s = Sender(EgressGuard(allow_private=True), SystemClock(), timeout=timeout, ssl_context=ssl_context)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def test_a_redirect_is_a_failed_attempt_and_not_followed() -> None:
    async def moved(n: int, writer: asyncio.StreamWriter) -> bool:
        await send(writer, b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
        return True

    async with raw_subscriber(moved) as (sub, url), sender() as s:
        result = await s.send(claim(f"{url}/hook"))
    assert result.status_code == 302 and result.error is not None and "'/elsewhere' not followed" in result.error
    assert len(sub.requests) == 1


async def test_one_deadline_covers_the_whole_request_even_a_trickling_answer() -> None:
    async def trickle(n: int, writer: asyncio.StreamWriter) -> bool:
        await send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
        for _ in range(40):  # a byte every 0.1 s: no single read waits long, the whole takes 4 s
            await send(writer, b"x")
            await asyncio.sleep(0.1)
        return False

    async with raw_subscriber(trickle) as (_, url), sender(timeout=0.5) as s:
        started = time.monotonic()
        result = await s.send(claim(f"{url}/hook"))
    assert result.error == "timed out after 0.5 s" and time.monotonic() - started < 2


async def test_a_huge_answer_is_read_to_4_kib_and_its_connection_dropped() -> None:
    written = 0
    finished = asyncio.Event()

    async def endless(n: int, writer: asyncio.StreamWriter) -> bool:
        nonlocal written
        try:
            await send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
            for _ in range(16384):
                await send(writer, b"y" * 65536)
                written += 65536
        finally:
            finished.set()
        return False

    async with raw_subscriber(endless) as (_, url), sender() as s:
        result = await s.send(claim(f"{url}/hook"))
        await asyncio.wait_for(finished.wait(), 10)  # the writer failed: the connection was dropped
    assert result.status_code == 200 and result.response_body == "y" * RESPONSE_BODY_CAP
    assert written < 64 * 1024 * 1024


async def test_the_answers_body_is_kept_and_retry_after_read() -> None:
    async def busy(n: int, writer: asyncio.StreamWriter) -> bool:
        await send(writer, b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 9\r\n\r\ntoo busy!")
        return True

    async with raw_subscriber(busy) as (_, url), sender() as s:
        result = await s.send(claim(f"{url}/hook"))
    assert (result.status_code, result.response_body, result.error) == (503, "too busy!", "HTTP 503")
    assert result.retry_after == 7


async def test_a_pooled_connection_the_server_drops_as_the_request_arrives_is_replaced_once() -> None:
    """The race a keep-alive timeout leaves: the server closes an idle connection just as a request
    goes out on it. That request never reached the application: sent once more on a new one."""
    seen: set[int] = set()

    async def drops_reused(n: int, writer: asyncio.StreamWriter) -> bool:
        if id(writer) in seen:
            return False  # a second request on this connection: close it unanswered
        seen.add(id(writer))
        await send(writer, OK)
        return True

    async with raw_subscriber(drops_reused) as (sub, url), sender() as s:
        first = await s.send(claim(f"{url}/hook"))
        second = await s.send(claim(f"{url}/hook"))
    assert (first.status_code, second.status_code, second.error) == (200, 200, None)
    assert len(sub.requests) == 3  # the dropped one, then the same request on a new connection


async def test_a_new_connection_closed_unanswered_is_not_sent_to_again() -> None:
    async def hangs_up(n: int, writer: asyncio.StreamWriter) -> bool:
        return False

    async with raw_subscriber(hangs_up) as (sub, url), sender() as s:
        result = await s.send(claim(f"{url}/hook"))
    assert result.error == "the connection closed before an answer" and len(sub.requests) == 1


@pytest.mark.parametrize("reply", [b"garbage\r\n\r\n", b""], ids=["not http", "nothing"])
async def test_a_broken_answer_is_a_failed_attempt(reply: bytes) -> None:
    async def broken(n: int, writer: asyncio.StreamWriter) -> bool:
        await send(writer, reply)
        return False

    async with raw_subscriber(broken) as (sub, url), sender() as s:
        result = await s.send(claim(f"{url}/hook"))
    assert result.status_code is None and result.error
    assert len(sub.requests) == 1  # a fresh connection that failed is not sent to again


async def test_a_refused_connection_is_a_failed_attempt() -> None:
    async with sender() as s:
        result = await s.send(claim("http://127.0.0.1:1/hook"))
    assert result.error is not None and result.error.startswith("cannot connect to 127.0.0.1:1")


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@contextlib.asynccontextmanager
async def tls_subscriber(ca: trustme.CA, tmp_path: Path) -> AsyncIterator[int]:
    cert = ca.issue_cert("localhost")
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    config = uvicorn.Config(
        Subscriber().app(),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        ssl_keyfile=str(key_file),
        ssl_certfile=str(cert_file),
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # see run_server
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, what="the TLS subscriber")
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def test_https_verifies_the_certificate_and_the_name(certificate_authority: trustme.CA, tmp_path: Path) -> None:
    trusted = ssl.create_default_context()
    certificate_authority.configure_trust(trusted)
    async with tls_subscriber(certificate_authority, tmp_path) as port:
        async with sender(ssl_context=trusted) as good:
            assert (await good.send(claim(f"https://localhost:{port}/hook"))).status_code == 200
            wrong_name = await good.send(claim(f"https://127.0.0.1:{port}/hook"))  # the certificate names localhost
        async with sender() as untrusting:  # the system's trust store does not know the test CA
            unknown_ca = await untrusting.send(claim(f"https://localhost:{port}/hook"))
    for result in (wrong_name, unknown_ca):
        assert result.status_code is None and result.error is not None and result.error.startswith("TLS failed")
