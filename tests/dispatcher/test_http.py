"""The delivery HTTP client against real servers that behave well, badly and strangely."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from dispatcher.http import Pool
from hookline.egress import EgressGuard
from hookline.errors import EgressRefused
from tests.support import run_server, wait_for

OPEN = EgressGuard(allow_private=True)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A TCP server that answers exactly what ``handler`` writes (to misbehave on purpose); each
    connection is closed when its handler returns."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head + await reader.readexactly(length)


def app(seen: list[dict[str, Any]]) -> Starlette:
    async def hook(request: Request) -> Response:
        seen.append(
            {
                "body": await request.body(),
                "headers": dict(request.headers),
                "client": request.client.port if request.client else None,
            }
        )
        return Response(b"thanks", headers={"retry-after": "7"})

    async def big(request: Request) -> Response:
        await request.body()
        return Response(b"x" * 200_000)

    async def chunked(request: Request) -> StreamingResponse:
        await request.body()

        async def parts() -> AsyncIterator[bytes]:
            for part in (b"first ", b"second ", b"third"):
                yield part

        return StreamingResponse(parts())

    async def moved(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "https://elsewhere.example/"})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.5)
        return Response(b"late")

    async def closing(request: Request) -> Response:
        return Response(b"bye", headers={"connection": "close"})

    return Starlette(
        routes=[
            Route("/hook", hook, methods=["POST"]),
            Route("/big", big, methods=["POST"]),
            Route("/chunked", chunked, methods=["POST"]),
            Route("/moved", moved, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
            Route("/closing", closing, methods=["POST"]),
        ]
    )


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    async with run_server(app(seen), lifespan="off") as url:
        yield url, seen


@pytest.fixture
async def pool() -> AsyncIterator[Pool]:
    p = Pool(OPEN)
    try:
        yield p
    finally:
        await p.close()


async def test_posts_the_body_and_headers_and_reuses_the_connection(server: Any, pool: Pool) -> None:
    url, seen = server
    first = await pool.post(f"{url}/hook", {"webhook-id": "msg_1", "content-type": "application/json"}, b'{"a":1}', 5)
    second = await pool.post(f"{url}/hook", {"webhook-id": "msg_2"}, b"{}", 5)
    assert (first.status, first.body, first.headers) == (200, b"thanks", {"retry-after": "7"})
    assert second.status == 200
    assert seen[0]["body"] == b'{"a":1}' and seen[0]["headers"]["webhook-id"] == "msg_1"
    assert seen[0]["headers"]["user-agent"] == "hookline" and seen[0]["headers"]["content-length"] == "7"
    assert seen[0]["client"] == seen[1]["client"]  # one keep-alive connection


async def test_a_query_string_reaches_the_server(pool: Pool) -> None:
    seen_paths: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        seen_paths.append(request.split(b" ")[1].decode())
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async with raw_server(handler) as raw:
        assert (await pool.post(f"{raw}/hooks/a?token=x&b=2", {}, b"{}", 5)).status == 204
    assert seen_paths == ["/hooks/a?token=x&b=2"]


async def test_a_long_answer_is_cut_and_its_connection_not_reused(server: Any) -> None:
    url, seen = server
    pool = Pool(OPEN, body_cap=4096)
    try:
        big = await pool.post(f"{url}/big", {}, b"{}", 5)
        assert big.status == 200 and big.body == b"x" * 4096
        await pool.post(f"{url}/hook", {}, b"{}", 5)
        await pool.post(f"{url}/hook", {}, b"{}", 5)
        assert seen[0]["client"] == seen[1]["client"]  # the pool goes on working
    finally:
        await pool.close()


async def test_chunked_answers_are_read(server: Any, pool: Pool) -> None:
    url, _ = server
    answer = await pool.post(f"{url}/chunked", {}, b"{}", 5)
    assert answer.body == b"first second third"


async def test_redirects_are_not_followed(server: Any, pool: Pool) -> None:
    url, _ = server
    answer = await pool.post(f"{url}/moved", {}, b"{}", 5)
    assert answer.status == 302 and answer.headers["location"] == "https://elsewhere.example/"


async def test_the_deadline_covers_the_whole_request(server: Any, pool: Pool) -> None:
    url, _ = server
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await pool.post(f"{url}/slow", {}, b"{}", 0.3)
    assert time.monotonic() - started < 2
    assert (await pool.post(f"{url}/hook", {}, b"{}", 5)).status == 200  # the late answer confuses nothing


async def test_connection_close_from_the_server_is_honoured(server: Any, pool: Pool) -> None:
    url, _ = server
    assert (await pool.post(f"{url}/closing", {}, b"{}", 5)).body == b"bye"
    assert (await pool.post(f"{url}/hook", {}, b"{}", 5)).status == 200


async def test_a_connection_the_server_closed_while_idle_is_replaced(pool: Pool) -> None:
    answered = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await read_request(reader)
        answered += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # closes after one answer without saying so (keep-alive timeout on the server)

    async with raw_server(handler) as url:
        assert (await pool.post(f"{url}/h", {}, b"{}", 5)).status == 200
        await asyncio.sleep(0.05)  # the close reaches us: let the loop see it
        assert (await pool.post(f"{url}/h", {}, b"{}", 5)).status == 200
    assert answered == 2


async def test_interim_answers_are_skipped(pool: Pool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone")
        await writer.drain()

    async with raw_server(handler) as url:
        answer = await pool.post(f"{url}/h", {}, b"{}", 5)
    assert (answer.status, answer.body) == (201, b"done")


@pytest.mark.parametrize("reply", [b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", b""])
async def test_broken_answers_are_connection_errors(pool: Pool, reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url:
        with pytest.raises(ConnectionError):
            await pool.post(f"{url}/h", {}, b"{}", 5)


async def test_a_refused_connection_is_a_connection_error(pool: Pool) -> None:
    with pytest.raises(ConnectionError, match="cannot connect"):
        await pool.post("http://127.0.0.1:1/h", {}, b"{}", 5)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://localhost:9/h", "http://[::1]:9/h"])
async def test_the_egress_guard_is_asked_before_connecting(url: str) -> None:
    pool = Pool(EgressGuard(allow_private=False))
    try:
        with pytest.raises(EgressRefused):
            await pool.post(url, {}, b"{}", 5)
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


async def test_https_verifies_the_certificate_and_the_name(certificate_authority: trustme.CA, tmp_path: Any) -> None:
    cert = certificate_authority.issue_cert("localhost")
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    seen: list[dict[str, Any]] = []
    config = uvicorn.Config(
        app(seen),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        ssl_keyfile=str(key_file),
        ssl_certfile=str(cert_file),
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    await wait_for(lambda: uv.started, what="the TLS server")
    port = uv.servers[0].sockets[0].getsockname()[1]
    trusted = ssl.create_default_context()
    certificate_authority.configure_trust(trusted)
    try:
        good = Pool(OPEN, ssl_context=trusted)
        assert (await good.post(f"https://localhost:{port}/hook", {}, b"{}", 5)).status == 200
        with pytest.raises(ssl.SSLError):  # the certificate is for "localhost", not this address
            await good.post(f"https://127.0.0.1:{port}/hook", {}, b"{}", 5)
        await good.close()
        untrusted = Pool(OPEN)  # the system's trust store does not know the test CA
        with pytest.raises(ssl.SSLError):
            await untrusted.post(f"https://localhost:{port}/hook", {}, b"{}", 5)
        await untrusted.close()
    finally:
        uv.should_exit = True
        await task
