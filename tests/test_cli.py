"""The ``hookline`` command as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from asyncio.subprocess import PIPE
from pathlib import Path

import httpx
import pytest

from tests.support import HooklineProcess, fixture_bytes, wait_for


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "hookline", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_explains_the_commands(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "info", "migrate"):
        assert command in result.stdout
    serve = run("serve", "--help", cwd=tmp_path)
    assert "--database-url" in serve.stdout and "HOOKLINE_PORT" in serve.stdout


def test_bad_configuration_exits_2_listing_every_bad_key(tmp_path: Path) -> None:
    result = run("serve", "--port", "99999", cwd=tmp_path, env={"HOOKLINE_RETRY_SCHEDULE": "often"})
    assert result.returncode == 2
    assert "HOOKLINE_PORT" in result.stderr and "HOOKLINE_RETRY_SCHEDULE" in result.stderr
    assert "Traceback" not in result.stderr


def test_info_prints_the_same_generated_tokens_every_time(tmp_path: Path) -> None:
    first = run("info", cwd=tmp_path)
    second = run("info", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert re.search(r"/callbacks/mjproxy/[\w-]{20,}", first.stdout)
    assert re.search(r"/callbacks/useapi/[\w-]{20,}", first.stdout)
    assert (tmp_path / "hookline-data" / "hookline.db").exists()


def test_migrate_reports_the_schema_version(tmp_path: Path) -> None:
    first = run("migrate", cwd=tmp_path)
    assert first.returncode == 0 and "migrated from schema version 0" in first.stdout
    again = run("migrate", cwd=tmp_path)
    assert "already at schema version" in again.stdout


async def test_info_works_while_the_server_runs(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        result = run("info", cwd=tmp_path, env={"HOOKLINE_DATA_DIR": str(tmp_path / "data")})
        assert result.returncode == 0, result.stderr
    finally:
        server.stop()


async def test_a_second_server_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        second = run("serve", "--port", str(_port()), cwd=tmp_path, env={"HOOKLINE_DATA_DIR": str(tmp_path / "data")})
        assert second.returncode == 1
        assert "another hookline process is using" in second.stderr and "Traceback" not in second.stderr
    finally:
        server.stop()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_default_serve_from_a_fresh_directory(tmp_path: Path) -> None:
    """What the README's run command does: serve on 127.0.0.1:8080 with SQLite in ./hookline-data,
    print the callback URL, and a curl of a fixture to it shows up in GET /v1/jobs."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.fail("port 8080 is taken on this machine; the default serve test needs it free")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "hookline", "serve"],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = ""
        while "dashboard" not in banner:
            line = process.stdout.readline()
            assert line, f"hookline exited early with {process.poll()}"
            banner += line
        callback_url = re.search(r"notifyHook: (\S+)", banner).group(1)  # type: ignore[union-attr]
        admin_token = re.search(r"Bearer …\): (\S+)", banner).group(1)  # type: ignore[union-attr]
        assert callback_url.startswith("http://127.0.0.1:8080/callbacks/mjproxy/")
        curl = subprocess.run(
            ["curl", "-s", "-X", "POST", "--data-binary", "@-", callback_url],
            input=fixture_bytes("mjproxy-blend-01-submitted.json").decode(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert '"outcome":"applied"' in curl.stdout

        async def listed() -> bool:
            async with httpx.AsyncClient() as client:
                jobs = (
                    await client.get(
                        "http://127.0.0.1:8080/v1/jobs", headers={"Authorization": f"Bearer {admin_token}"}
                    )
                ).json()
            return [j["upstream_id"] for j in jobs["items"]] == ["1722931207538412"]

        await wait_for(listed, what="the job in GET /v1/jobs")
        assert (tmp_path / "hookline-data" / "hookline.db").exists()
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()


def test_serve_on_a_taken_port_says_which_port_and_how_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run("serve", "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr
    assert "--port" in result.stderr and "HOOKLINE_PORT" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""  # no banner announcing a server that is not running


@pytest.mark.postgres
async def test_the_dispatcher_banner_advertises_only_health_and_metrics(tmp_path: Path, pg_url: str) -> None:
    port = _port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env = {**clean, "HOOKLINE_DATABASE_URL": pg_url, "HOOKLINE_PORT": str(port), "HOOKLINE_ROLE": "dispatcher"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hookline", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = ""
        while "/healthz" not in banner:
            line = process.stdout.readline()
            assert line, f"hookline exited early with {process.poll()}"
            banner += line
        assert f"http://127.0.0.1:{port}" in banner and "/readyz" in banner and "/metrics" in banner
        assert "/callbacks/" not in banner and "/v1/" not in banner and "token" not in banner
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/v1/jobs")).status_code == 404
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_reader_that_stops_early_gets_no_broken_pipe_traceback(tmp_path: Path) -> None:
    """``hookline jobs ls --json | head``: the output is larger than a pipe holds, so head exits
    while hookline is still writing."""
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=server.admin_headers) as api:
            for n in range(150):
                body = {"provider": "mjproxy", "correlation_key": f"order-{n:04}", "metadata": {"n": "x" * 400}}
                assert (await api.post("/v1/jobs", json=body)).status_code == 201
        env = {
            "HOOKLINE_URL": server.url,
            "HOOKLINE_ADMIN_TOKEN": server.env["HOOKLINE_ADMIN_TOKEN"],
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        result = subprocess.run(
            ["bash", "-c", f"{sys.executable} -m hookline jobs ls --json --limit 150 | head -n 3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = result.stdout.splitlines()
        assert lines[:2] == ["[", "  {"] and lines[2].startswith('    "id": "job_') and len(lines) == 3
        assert result.stderr == ""
    finally:
        server.stop()


# --- hookline listen ------------------------------------------------------------------------------
class Listen:
    """``hookline listen`` as a child process, its stdout and stderr collected line by line."""

    def __init__(self, server: HooklineProcess, *args: str) -> None:
        self.server = server
        self.args = args
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.readers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Listen:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env = {
            **clean,
            "HOOKLINE_URL": self.server.url,
            "HOOKLINE_ADMIN_TOKEN": self.server.env["HOOKLINE_ADMIN_TOKEN"],
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookline", "listen", *self.args, env=env, stdout=PIPE, stderr=PIPE
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.readers = [
            asyncio.create_task(_collect(self.process.stdout, self.stdout)),
            asyncio.create_task(_collect(self.process.stderr, self.stderr)),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await asyncio.gather(*self.readers)

    async def ready(self) -> str:
        """The receiver's URL, once listen says it is subscribed."""
        line = await wait_for(
            lambda: next((x for x in self.stderr if x.startswith("listening on")), None), what="listen"
        )
        return str(line.split()[2])

    async def stopped(self, sig: int = signal.SIGINT) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), 20)


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for line in stream:
        into.append(line.decode().rstrip("\n"))


async def _post_callbacks(server: HooklineProcess, *names: str) -> None:
    async with httpx.AsyncClient() as client:
        for name in names:
            answer = await client.post(server.callback_url("mjproxy"), content=fixture_bytes(name))
            assert answer.json()["outcome"] == "applied"


async def test_listen_prints_each_verified_event(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        async with Listen(server) as listen:
            await listen.ready()
            await _post_callbacks(server, "mjproxy-blend-01-submitted.json", "mjproxy-blend-04-in-progress-15.json")
            await wait_for(lambda: len(listen.stdout) >= 2, what="two events printed")
            submitted, progress = listen.stdout
            assert "job.submitted" in submitted and "upstream id 1722931207538412" in submitted
            assert "order-7f3a9c" in submitted and "mjproxy" in submitted
            assert "job.progress" in progress and "15%" in progress
    finally:
        server.stop()


async def test_listen_json_prints_each_event_as_one_json_line(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        async with Listen(server, "--json", "--event-type", "job.progress") as listen:
            await listen.ready()
            await _post_callbacks(server, "mjproxy-blend-01-submitted.json", "mjproxy-blend-04-in-progress-15.json")
            await wait_for(lambda: listen.stdout, what="an event printed")
            (event,) = [json.loads(line) for line in listen.stdout]
            assert event["type"] == "job.progress" and event["data"]["progress"] == 15
    finally:
        server.stop()


async def test_listen_refuses_a_forged_delivery(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        async with Listen(server) as listen:
            url = await listen.ready()
            stamp = str(int(time.time()))
            forged = {"webhook-id": "msg_forged", "webhook-timestamp": stamp, "webhook-signature": "v1,AAAA"}
            async with httpx.AsyncClient() as client:
                answer = await client.post(url, content=b'{"type": "job.succeeded", "data": {}}', headers=forged)
            assert answer.status_code == 401
            await wait_for(lambda: any("refused a delivery" in line for line in listen.stderr), what="the refusal")
            assert listen.stdout == []
    finally:
        server.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_stopping_listen_deletes_its_subscription(tmp_path: Path, sig: int) -> None:
    server = HooklineProcess(tmp_path / "data", _port())
    await server.start()
    try:
        async with Listen(server) as listen, httpx.AsyncClient(headers=server.admin_headers) as api:
            await listen.ready()
            assert len((await api.get(f"{server.url}/v1/subscriptions")).json()["items"]) == 1
            assert await listen.stopped(sig) == 0
            assert (await api.get(f"{server.url}/v1/subscriptions")).json()["items"] == []
            assert any(line.startswith("unsubscribed sub_") for line in listen.stderr)
    finally:
        server.stop()


async def test_listen_says_how_to_let_hookline_deliver_to_this_machine(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", _port(), env={"HOOKLINE_ALLOW_PRIVATE_TARGETS": "false"})
    await server.start()
    try:
        async with Listen(server) as listen:
            assert listen.process is not None
            assert await asyncio.wait_for(listen.process.wait(), 20) == 1
        message = "\n".join(listen.stderr)
        assert "loopback" in message and "HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8" in message
        assert "Traceback" not in message
    finally:
        server.stop()


def test_info_prints_only_the_admin_token_or_a_callback_url(tmp_path: Path) -> None:
    env = {"HOOKLINE_PORT": "9123"}
    token = run("info", "--admin-token", cwd=tmp_path, env=env).stdout.strip()
    url = run("info", "--callback-url", "useapi", cwd=tmp_path, env=env).stdout.strip()
    banner = run("info", cwd=tmp_path, env=env).stdout
    assert re.fullmatch(r"[\w-]{20,}", token) and f"Bearer …): {token}" in banner
    assert re.fullmatch(r"http://127\.0\.0\.1:9123/callbacks/useapi/[\w-]{20,}", url) and url in banner


def test_listen_on_a_taken_port_says_which_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run("listen", "--port", port, cwd=tmp_path, env={"HOOKLINE_ADMIN_TOKEN": "x" * 20})
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr
