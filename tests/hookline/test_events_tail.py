"""``hookline events tail`` against a real running hookline: it prints the events there are, then
follows the feed and prints new ones as they come, and says how to resume where it stopped.

The follow test runs the installed console script as a user would, reading its output line by
line while the test sends callbacks; the others run the command in a thread (the server shares
the test's event loop)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from hookline.cli import main
from hookline.manage.feed import event_line
from tests.conftest import Hookline
from tests.hookline.test_event_feed import follow, mjproxy
from tests.support import MJPROXY_FAILURE, MJPROXY_LIFECYCLE, wait_for


async def tail(
    h: Hookline, capsys: pytest.CaptureFixture[str], *args: str, token: str | None = None
) -> tuple[int, str, str]:
    argv = ["events", "tail", *args, "--interval", "0.05", "--url", h.url, "--token", token or h.config.admin_token]
    capsys.readouterr()
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


async def _line(stream: asyncio.StreamReader, what: str) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout=15)
    assert line, f"the tail process ended before printing {what}"
    return line.decode()


async def test_tail_prints_the_feed_then_follows_new_events(hookline: Hookline) -> None:
    for name in MJPROXY_LIFECYCLE[:2]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    existing, _ = await follow(hookline)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "hookline"),
        *("events", "tail", "--interval", "0.05", "--url", hookline.url),
        env={"HOOKLINE_ADMIN_TOKEN": hookline.config.admin_token, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert "following the events of" in await _line(process.stderr, "that it follows")
        first = [await _line(process.stdout, "the existing events") for _ in existing]
        assert [line.split()[2] for line in first] == [e["type"] for e in existing]
        await hookline.post_callback("mjproxy", mjproxy(MJPROXY_LIFECYCLE[-1]))  # the job succeeds
        new = await _line(process.stdout, "the new event")
        assert new.split()[2:4] == ["job.succeeded", existing[0]["data"]["job_id"]]
        assert f"#{len(existing) + 1}" in new and "succeeded 100%" in new
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert "resume with: hookline events tail --after " in err.decode()


async def test_tail_resumes_after_the_cursor_it_printed(hookline: Hookline, capsys: pytest.CaptureFixture[str]) -> None:
    for name in MJPROXY_LIFECYCLE[:5]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    everything, _ = await follow(hookline)
    code, out, err = await tail(hookline, capsys, "--count", "2", "--json")
    assert code == 0
    printed = [json.loads(line) for line in out.splitlines()]
    assert printed == everything[:2]
    cursor = err.strip().splitlines()[-1].rsplit(" ", 1)[1]
    code, out, _ = await tail(hookline, capsys, "--after", cursor, "--count", str(len(everything) - 2), "--json")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == everything[2:]


async def test_tail_filters_by_type(hookline: Hookline, capsys: pytest.CaptureFixture[str]) -> None:
    for name in MJPROXY_FAILURE:
        await hookline.post_callback("mjproxy", mjproxy(name))
    code, out, _ = await tail(hookline, capsys, "--type", "job.failed", "--count", "1")
    assert code == 0
    (line,) = out.splitlines()
    assert line.split()[2] == "job.failed" and "error:" in line


async def test_tail_new_skips_the_events_there_are(hookline: Hookline, capsys: pytest.CaptureFixture[str]) -> None:
    for name in MJPROXY_LIFECYCLE[:3]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    task = asyncio.create_task(tail(hookline, capsys, "--new", "--count", "1", "--json"))
    # It reads the feed through once, then says it follows: only then is an event "new". (Nothing
    # is printed on stdout before the new event, so reading the capture here takes nothing from it.)
    await wait_for(
        lambda: task.done() or "following the events" in capsys.readouterr().err, what="tail to reach the end"
    )
    await hookline.post_callback("mjproxy", mjproxy(MJPROXY_LIFECYCLE[-1]))
    code, out, _ = await task
    assert code == 0 and json.loads(out)["type"] == "job.succeeded"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--after", "not-a-cursor"), "after must be the next_cursor"),
        (("--job", "a\x00b"), "job_id must not contain NUL"),
    ],
)
async def test_tail_reports_a_refused_request(
    hookline: Hookline, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str
) -> None:
    code, _, err = await tail(hookline, capsys, *args)
    assert code == 1 and fragment in err


async def test_tail_with_a_wrong_token_exits_4(hookline: Hookline, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await tail(hookline, capsys, token="wrong")
    assert code == 4 and "admin token was refused" in err


def test_tail_refuses_a_bad_interval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["events", "tail", "--interval", "-1"])
    assert exited.value.code == 2 and "not a number of seconds" in capsys.readouterr().err


def test_an_operational_event_is_printed_with_the_subscription_it_is_about() -> None:
    item = {
        "type": "subscription.disabled",
        "timestamp": "2026-11-30T06:00:00Z",
        "data": {"subscription_id": "sub_1", "url": "https://app.example.com/h", "reason": "410 Gone"},
    }
    line = event_line(item)
    assert "subscription.disabled" in line and "sub_1  https://app.example.com/h  410 Gone" in line
    assert "None" not in line
