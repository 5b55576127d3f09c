"""The management commands against a real running hookline: ``subscriptions``, ``jobs``,
``deliveries``, ``replay``; their tables, ``--json``, progress, error messages and exit codes.

The commands are synchronous, so they run in a thread (the server shares the test's event loop);
one test runs the installed console script as a subprocess, as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hookline.cli import main
from hookline.manage.output import since_time
from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, free_port, wait_for


class Run:
    """Runs ``hookline ARGS`` against one server and captures what it prints."""

    def __init__(self, h: Hookline, capsys: pytest.CaptureFixture[str]) -> None:
        self.h = h
        self.capsys = capsys

    async def __call__(self, *args: str, token: str | None = None, url: str | None = None) -> tuple[int, str, str]:
        argv = [*args, "--url", url or self.h.url, "--token", token or self.h.config.admin_token or ""]
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, argv)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def hookline_cli(hookline: Hookline, capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(hookline, capsys)


async def test_subscriptions_add_list_disable_enable_rm(hookline_cli: Run, subscriber: Any) -> None:
    _, url = subscriber
    code, out, _ = await hookline_cli(
        "subscriptions", "add", f"{url}/hook", "--event-type", "job.succeeded", "--description", "orders"
    )
    assert code == 0 and "signing secret: whsec_" in out
    sub_id = out.split()[1]
    code, out, _ = await hookline_cli("subscriptions", "list")
    header, row = out.strip().splitlines()
    assert header.split()[:3] == ["ID", "URL", "ENABLED"]
    assert row.startswith(sub_id) and "healthy" in row and "orders" in row
    code, out, _ = await hookline_cli("subscriptions", "disable", sub_id)
    assert code == 0 and out.strip() == f"{sub_id} is disabled"
    code, out, _ = await hookline_cli("subscriptions", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["enabled"] is False and listed["disabled_reason"] == "disabled by an operator"
    assert (await hookline_cli("subscriptions", "enable", sub_id))[0] == 0
    code, out, _ = await hookline_cli("subscriptions", "rm", sub_id)
    assert code == 0 and out.strip() == f"deleted {sub_id}"
    code, out, _ = await hookline_cli("subscriptions", "list")
    assert "no subscriptions" in out


async def test_subscriptions_pause_and_resume(hookline_cli: Run, subscriber: Any) -> None:
    _, url = subscriber
    code, out, _ = await hookline_cli("subscriptions", "add", f"{url}/hook", "--json")
    sub_id = json.loads(out)["id"]
    code, out, _ = await hookline_cli("subscriptions", "pause", sub_id)
    assert code == 0 and out.strip() == f"{sub_id} is paused: its deliveries are queued, not sent"
    code, out, _ = await hookline_cli("subscriptions", "ls")
    header, row = out.strip().splitlines()
    assert header.split()[:4] == ["ID", "URL", "ENABLED", "PAUSED"]
    assert row.split()[2:4] == ["yes", "yes"], row
    code, out, _ = await hookline_cli("subscriptions", "resume", sub_id)
    assert code == 0 and out.strip() == f"{sub_id} is resumed: its queued deliveries go out"
    code, out, _ = await hookline_cli("subscriptions", "list", "--json")
    assert json.loads(out)[0]["paused"] is False


async def test_retry_all_dead_with_nothing_dead_says_so(hookline_cli: Run) -> None:
    code, out, _ = await hookline_cli("deliveries", "retry", "--all-dead")
    assert code == 0 and out.strip() == "retried 0 deliveries"
    code, out, _ = await hookline_cli("deliveries", "retry", "--all-dead", "--json")
    assert json.loads(out) == {"queued": 0}


async def test_jobs_ls_and_show(hookline: Hookline, hookline_cli: Run) -> None:
    for name in MJPROXY_LIFECYCLE[:4]:
        job_id = (await hookline.post_callback("mjproxy", fixture_bytes(name))).json()["job_id"]
    await hookline.admin.post("/v1/jobs", json={"provider": "useapi", "correlation_key": "other"})
    code, out, _ = await hookline_cli("jobs", "ls", "--provider", "mjproxy")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and lines[1].split()[:4] == [job_id, "in_progress", "15", "mjproxy"]
    code, out, _ = await hookline_cli("jobs", "show", job_id)
    assert code == 0 and "correlation key: order-7f3a9c" in out
    assert out.count("applied") == 3 and "duplicate" in out and "job.progress" in out
    code, out, _ = await hookline_cli("jobs", "show", job_id, "--json")
    assert json.loads(out)["id"] == job_id
    code, _, err = await hookline_cli("jobs", "show", "job_nope")
    assert code == 1 and "no job 'job_nope'" in err


async def test_retry_all_dead_page_by_page_then_replay(
    hookline_factory: Any, database_url: str, subscriber: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.02")
    run = Run(h, capsys)
    sink, url = subscriber
    sink.default = 503
    code, out, _ = await run("subscriptions", "add", f"{url}/hook", "--json")
    sub_id = json.loads(out)["id"]
    for i in range(120):  # 120 jobs, one event each: 120 dead deliveries, more than one page
        body = json.dumps({"id": f"task-{i}", "status": "SUBMITTED", "progress": "0%"}).encode()
        await h.post_callback("mjproxy", body)

    def count_is(status: str, expected: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            page = (await h.admin.get("/v1/deliveries", params={"status": status, "limit": 500})).json()
            return len(page["items"]) == expected

        return check

    await wait_for(count_is("dead", 120), timeout=30, what="120 dead deliveries")
    sink.default = 200
    code, out, _ = await run("deliveries", "retry", "--all-dead", "--subscription", sub_id)
    assert code == 0 and out.strip() == "retried 120 deliveries"  # one POST /v1/deliveries/retry, no paging
    await wait_for(count_is("delivered", 120), timeout=30, what="the retried deliveries")
    code, out, _ = await run("deliveries", "ls", "--status", "dead")
    assert out.strip() == "no deliveries"

    code, out, _ = await run("replay", sub_id, "--since", "1h")
    assert code == 0 and out.startswith("queued 120 deliveries")
    await wait_for(count_is("delivered", 240), timeout=30, what="the replayed events")


async def test_retry_reports_refusals_and_exits_1(hookline_cli: Run) -> None:
    code, out, _ = await hookline_cli("deliveries", "retry", "dlv_nope1", "dlv_nope2")
    assert code == 1 and "2 refused" in out and "no delivery 'dlv_nope1'" in out
    code, _, err = await hookline_cli("deliveries", "retry")
    assert code == 1 and "--all-dead" in err


async def test_a_wrong_token_says_where_to_find_the_right_one(hookline_cli: Run) -> None:
    code, out, err = await hookline_cli("jobs", "ls", token="wrong-token-0123456789")
    assert code == 4 and out == ""
    assert "set HOOKLINE_ADMIN_TOKEN or pass --token ('hookline info' prints it)" in err


async def test_an_unreachable_server_says_so(hookline_cli: Run) -> None:
    code, _, err = await hookline_cli("subscriptions", "list", url=f"http://127.0.0.1:{free_port()}")
    assert code == 3 and "cannot reach hookline" in err and "HOOKLINE_URL" in err


async def test_replay_refuses_a_time_it_cannot_read(hookline_cli: Run) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await hookline_cli("replay", "sub_x", "--since", "last tuesday")
    assert exit_info.value.code == 2


def test_since_accepts_iso_times_and_ages() -> None:
    assert since_time("2026-11-21T10:00:00Z") == "2026-11-21T10:00:00.000Z"
    assert since_time("90m", now=1_800_000_000.0) == "2027-01-15T06:30:00.000Z"


async def test_the_console_script_uses_the_environment(hookline: Hookline, tmp_path: Path) -> None:
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    env = {
        **os.environ,
        "HOOKLINE_URL": hookline.url,
        "HOOKLINE_ADMIN_TOKEN": hookline.config.admin_token or "",
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "hookline"),
        "jobs",
        "ls",
        "--json",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert [j["correlation_key"] for j in json.loads(out)] == ["order-7f3a9c"]
