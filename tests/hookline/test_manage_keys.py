"""``hookline keys add|ls|rm`` against a real running hookline."""

from __future__ import annotations

import json

import pytest

from tests.hookline.test_manage import Run, hookline_cli  # noqa: F401  (the fixture)


async def test_keys_add_ls_rm(hookline_cli: Run) -> None:  # noqa: F811
    code, out, _ = await hookline_cli(
        "keys", "add", "image app", "--scope", "jobs:write", "--scope", "events:read", "--expires", "30d"
    )
    assert code == 0 and "key: hlk_" in out and "shown this once" in out
    key = out.split("key: ", 1)[1].split()[0]
    key_id = out.split()[1]
    assert key_id.startswith("key_")

    code, out, _ = await hookline_cli("keys", "ls")
    assert code == 0 and key_id in out and "image app" in out and "jobs:write events:read" in out
    assert key not in out and key[:10] + "…" in out

    code, out, _ = await hookline_cli("jobs", "ls", token=key)
    assert code == 0
    code, _, err = await hookline_cli("deliveries", "ls", token=key)
    assert code != 0 and "deliveries:read" in err

    code, out, _ = await hookline_cli("keys", "rm", key_id)
    assert code == 0 and out.strip() == f"revoked {key_id}"
    code, out, _ = await hookline_cli("keys", "ls", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = await hookline_cli("jobs", "ls", token=key)
    assert code == 4 and f"the API key was refused (the API key {key_id} was revoked)" in err


async def test_keys_add_refuses_an_unknown_scope(hookline_cli: Run) -> None:  # noqa: F811
    with pytest.raises(SystemExit) as exited:
        await hookline_cli("keys", "add", "x", "--scope", "jobs:delete")
    assert exited.value.code == 2
    assert "invalid choice: 'jobs:delete'" in hookline_cli.capsys.readouterr().err
