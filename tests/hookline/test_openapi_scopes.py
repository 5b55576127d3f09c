"""schemathesis against ``/openapi.json`` with an API key of each scope (the admin token's run is
``test_openapi.py``): the 403s a key gets outside its scope are documented, a subscription read
without ``subscriptions:write`` has no secret and still matches its schema, and nothing is a 5xx."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from hookline.api.auth import SCOPES
from tests.hookline.test_openapi import CHECKS, _seed, _sink
from tests.support import run_server


@pytest.mark.parametrize("scope", list(SCOPES))
async def test_schemathesis_with_a_key_of_each_scope(hookline_factory: Any, tmp_path: Path, scope: str) -> None:
    h = await hookline_factory(
        f"sqlite:///{tmp_path / 'hookline.db'}", RETRY_SCHEDULE="0.05,0.05", DELIVERY_TIMEOUT="1"
    )
    async with run_server(_sink(), lifespan="off") as sink_url:
        await _seed(h, sink_url)
        made = await h.admin.post("/v1/api-keys", json={"name": f"fuzz {scope}", "scopes": [scope]})
        assert made.status_code == 201, made.text
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{h.url}/openapi.json",
            "--url",
            h.url,
            "--header",
            f"Authorization: Bearer {made.json()['key']}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "5",  # the admin token's run explores deeply (and runs the coverage phase, ~30 s per run
            # here); these check what differs per scope
            "--seed",
            "20261130",
            "--request-timeout",
            "10",
            "--workers",
            "1",
            "--phases",
            "examples,fuzzing,stateful",
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=150)
    report = out.decode(errors="replace")
    assert process.returncode == 0, report[-12000:]
    assert made.json()["key"] not in report.replace("[Filtered]", "")
