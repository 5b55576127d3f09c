"""``hookline subscriptions add`` and ``update`` with a subscription's own settings (issue 15):
headers, rate limit, retry schedule, status / min_progress filters; against a real hookline."""

from __future__ import annotations

import json

from tests.conftest import Hookline
from tests.hookline.test_manage import Run, hookline_cli  # noqa: F401 - the fixture

URL = "http://127.0.0.1:9/hook"


async def test_add_takes_every_setting(hookline: Hookline, hookline_cli: Run) -> None:  # noqa: F811
    code, out, err = await hookline_cli(
        "subscriptions", "add", URL, "--header", "Authorization: Bearer abc", "--header", "X-Team: render",
        "--rate-limit", "20", "--retry-schedule", "5,60", "--status", "succeeded", "--min-progress", "50", "--json",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    shown = (await hookline.admin.get(f"/v1/subscriptions/{created['id']}")).json()
    assert shown["headers"] == {"Authorization": "Bearer abc", "X-Team": "render"}
    assert (shown["rate_limit"], shown["retry_schedule"]) == (20, [5, 60])
    assert shown["filter"] == {"status": ["succeeded"], "min_progress": 50}


async def test_update_changes_settings_and_keeps_the_rest_of_the_filter(
    hookline: Hookline,
    hookline_cli: Run,  # noqa: F811
) -> None:
    code, out, _ = await hookline_cli("subscriptions", "add", URL, "--key-prefix", "shop-", "--header", "X-A: 1")
    sub_id = out.split()[1]
    code, out, err = await hookline_cli(
        "subscriptions", "update", sub_id, "--rate-limit", "5", "--retry-schedule", "none", "--status", "failed",
        "--clear-headers",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == f"updated {sub_id}: 5/s, retries after [] s"
    shown = (await hookline.admin.get(f"/v1/subscriptions/{sub_id}")).json()
    assert shown["headers"] == {} and shown["rate_limit"] == 5 and shown["retry_schedule"] == []
    assert shown["filter"] == {"correlation_key_prefix": "shop-", "status": ["failed"]}
    code, out, _ = await hookline_cli(
        "subscriptions", "update", sub_id, "--rate-limit", "none", "--retry-schedule", "default"
    )
    shown = (await hookline.admin.get(f"/v1/subscriptions/{sub_id}")).json()
    assert code == 0 and shown["rate_limit"] is None and shown["retry_schedule"] is None


async def test_a_bad_header_is_the_servers_400_and_exit_code(hookline_cli: Run) -> None:  # noqa: F811
    code, _, err = await hookline_cli("subscriptions", "add", URL, "--header", "Host: evil.example")
    assert code != 0 and "Host" in err
