"""``hookline prune [--dry-run]`` beside a running server (SQLite opened as ``info`` opens it), and
``hookline jobs rm`` by id, key and key prefix, on both backends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hookline.cli import main
from hookline.clock import ManualClock
from tests.conftest import Hookline
from tests.hookline.test_retention import run_job
from tests.support import MJPROXY_LIFECYCLE


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def store_flags(h: Hookline) -> list[str]:
    return ["--database-url", h.config.database_url, "--data-dir", str(h.config.data_dir)]


async def test_prune_dry_run_then_prune_while_the_server_runs(
    hookline_factory: Any, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server's clock runs an hour behind: its rows are an hour old by the wall clock.
    h = await hookline_factory(database_url, clock=ManualClock(time.time() - 3600))
    old = await run_job(h, "8001", "old")
    await h.post_callback("mjproxy", b"{not json")

    code, out, err = await cli(capsys, "prune", "--dry-run", "--retention", "600", *store_flags(h))

    assert code == 0, err
    assert "would delete" in out and "jobs             1" in out and "callbacks        11" in out
    assert "counting jobs: 1" in err  # progress
    assert (await h.admin.get(f"/v1/jobs/{old}")).status_code == 200
    code, out, err = await cli(capsys, "prune", "--retention", "600", *store_flags(h))
    assert code == 0, err
    assert "deleted" in out and "jobs             1" in out and "events           9" in out
    assert (await h.admin.get(f"/v1/jobs/{old}")).status_code == 404
    # The server goes on receiving.
    assert (await h.post_callback("mjproxy", b'{"id": "8002", "status": "SUBMITTED"}')).status_code == 200


async def test_jobs_rm_by_id_key_and_prefix(hookline: Hookline, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [await run_job(hookline, f"900{n}", key, MJPROXY_LIFECYCLE[:1]) for n, key in enumerate("a b c1 c2".split())]
    client = ["--url", hookline.url, "--token", hookline.config.admin_token or ""]

    code, out, err = await cli(capsys, "jobs", "rm", ids[0], *client)
    assert code == 0, err
    assert out.startswith("erased 1 jobs, 1 callbacks, 1 events")
    code, out, _ = await cli(capsys, "jobs", "rm", "--key", "b", "--json", *client)
    assert code == 0 and '"jobs": 1' in out
    code, out, _ = await cli(capsys, "jobs", "rm", "--key-prefix", "c", *client)
    assert code == 0 and out.startswith("erased 2 jobs")
    assert (await hookline.admin.get("/v1/jobs")).json()["items"] == []


async def test_jobs_rm_needs_exactly_one_way_to_name_jobs(
    hookline: Hookline, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ["--url", hookline.url, "--token", hookline.config.admin_token or ""]
    code, _, err = await cli(capsys, "jobs", "rm", *client)
    assert code != 0 and "name the jobs to erase" in err
    code, _, err = await cli(capsys, "jobs", "rm", "job_x", "--key", "k", *client)
    assert code != 0 and "name the jobs to erase" in err
