"""``hookline serve`` against header bombs, idle and slow-loris connections: raw sockets against a
real child process, so what is tested is the server ``hookline serve`` builds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hookline.config import Config
from hookline.errors import ConfigError
from tests.support import HooklineProcess, free_port

HEADER_TIMEOUT = 1.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[HooklineProcess]:
    process = HooklineProcess(tmp_path / "data", free_port(), env={"HOOKLINE_HEADER_TIMEOUT": str(HEADER_TIMEOUT)})
    await process.start()
    try:
        yield process
    finally:
        process.stop()


def rss_mib(process: HooklineProcess) -> float:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def connect(server: HooklineProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """What the server sent before it closed the connection (fails if it stays open)."""
    received = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionError:  # reset, or the pipe broken by our own writes
        pass
    return received


async def endless_header(server: HooklineProcess, limit_bytes: int) -> bytes:
    """Stream one header line without end (up to ``limit_bytes``); what the server answered."""
    reader, writer = await connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bomb: ")
    chunk = b"a" * 65536
    sent = 0
    try:
        while sent < limit_bytes:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except ConnectionError:
        pass
    try:
        return await closed_by_server(reader, timeout=5)
    finally:
        writer.close()


async def test_an_endless_header_line_is_refused_and_memory_stays_flat(server: HooklineProcess) -> None:
    before = rss_mib(server)
    answers = await asyncio.gather(*(endless_header(server, 64 * 1024 * 1024) for _ in range(8)))
    # Each bomb was cut off long before its 64 MiB (a 431 when the client reads it before the reset).
    assert all(a == b"" or a.startswith(b"HTTP/1.1 431 ") for a in answers)
    assert rss_mib(server) - before < 40


async def test_headers_over_the_limit_get_431(server: HooklineProcess) -> None:
    reader, writer = await connect(server)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    writer.write(request)
    answer = await closed_by_server(reader, timeout=5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code":"headers_too_large"' in answer and b"HOOKLINE_MAX_HEADER_BYTES" in answer


async def test_healthz_answers_during_a_header_bomb(server: HooklineProcess) -> None:
    bombs = [asyncio.create_task(endless_header(server, 512 * 1024 * 1024)) for _ in range(8)]
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            for _ in range(5):
                started = time.monotonic()
                assert (await client.get("/healthz")).status_code == 200
                assert time.monotonic() - started < 1.0
    finally:
        await asyncio.gather(*bombs)


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server: HooklineProcess) -> None:
    reader, writer = await connect(server)
    started = time.monotonic()
    assert await closed_by_server(reader, timeout=HEADER_TIMEOUT + 5) == b""
    writer.close()
    assert HEADER_TIMEOUT * 0.9 <= time.monotonic() - started < HEADER_TIMEOUT + 3


async def test_a_slow_loris_is_closed_after_the_header_timeout(server: HooklineProcess) -> None:
    reader, writer = await connect(server)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        try:
            while True:  # a byte now and then, well inside the deadline each time
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(HEADER_TIMEOUT / 5)
        except ConnectionError:
            pass

    trickling = asyncio.create_task(trickle())
    try:
        assert await closed_by_server(reader, timeout=HEADER_TIMEOUT + 5) == b""
    finally:
        trickling.cancel()
        writer.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


async def test_ordinary_keep_alive_requests_still_work(server: HooklineProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        for _ in range(2):
            assert (await client.get("/healthz")).status_code == 200
            await asyncio.sleep(HEADER_TIMEOUT * 1.5)  # idle between requests: keep-alive, not the header deadline
        big = {"X-Fine": "a" * 16_000}  # large, but within the limit
        assert (await client.get("/healthz", headers=big)).status_code == 200
        body = b'{"id": "1", "status": "SUBMITTED", "pad": "' + b"x" * 200_000 + b'"}'
        answer = await client.post(server.callback_url("mjproxy"), content=body)
        assert answer.status_code == 200, answer.text


def test_bad_header_limits_are_reported_together() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"HOOKLINE_MAX_HEADER_BYTES": "12", "HOOKLINE_HEADER_TIMEOUT": "soon"})
    assert "HOOKLINE_MAX_HEADER_BYTES" in str(raised.value) and "HOOKLINE_HEADER_TIMEOUT" in str(raised.value)
