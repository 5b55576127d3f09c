"""``/v1/subscriptions`` with per-subscription settings (issue 15): headers (shown where the
secret is, reserved names and control characters refused), rate_limit, retry_schedule, and the
status / min_progress filters. Bad values are a 400 naming the field, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Hookline

URL = "http://127.0.0.1:9/hook"


async def create(h: Hookline, **body: Any) -> Any:
    return await h.admin.post("/v1/subscriptions", json={"url": URL, **body})


async def test_settings_are_kept_and_shown(hookline: Hookline) -> None:
    response = await create(
        hookline,
        headers={"Authorization": "Bearer abc", "X-Tenant": "t1"},
        rate_limit=50,
        retry_schedule=[1, 30, 600],
        filter={"status": ["succeeded", "failed"], "min_progress": 40},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    shown = (await hookline.admin.get(f"/v1/subscriptions/{created['id']}")).json()
    for doc in (created, shown):
        assert doc["headers"] == {"Authorization": "Bearer abc", "X-Tenant": "t1"}
        assert doc["rate_limit"] == 50 and doc["retry_schedule"] == [1, 30, 600]
        assert doc["filter"] == {"status": ["succeeded", "failed"], "min_progress": 40}


async def test_headers_are_shown_like_the_secret_not_in_the_list(hookline: Hookline) -> None:
    created = (await create(hookline, headers={"Authorization": "Bearer abc"})).json()
    (listed,) = (await hookline.admin.get("/v1/subscriptions")).json()["items"]
    assert listed["id"] == created["id"]
    assert "headers" not in listed and "secret" not in listed
    assert listed["rate_limit"] is None and listed["retry_schedule"] is None


async def test_settings_can_be_changed_and_cleared(hookline: Hookline) -> None:
    created = (await create(hookline, headers={"X-A": "1"}, rate_limit=5, retry_schedule=[10])).json()
    path = f"/v1/subscriptions/{created['id']}"
    patched = await hookline.admin.patch(path, json={"rate_limit": 7, "retry_schedule": None, "headers": {"X-B": "2"}})
    assert patched.status_code == 200, patched.text
    shown = (await hookline.admin.get(path)).json()
    assert (shown["headers"], shown["rate_limit"], shown["retry_schedule"]) == ({"X-B": "2"}, 7, None)
    cleared = await hookline.admin.patch(path, json={"headers": None, "rate_limit": None})
    assert cleared.status_code == 200
    shown = (await hookline.admin.get(path)).json()
    assert (shown["headers"], shown["rate_limit"]) == ({}, None)


@pytest.mark.parametrize(
    "name",
    [
        "webhook-signature",
        "Webhook-Id",
        "Content-Type",
        "content-length",
        "Host",
        "User-Agent",
        "Transfer-Encoding",
        "CONNECTION",
    ],
)
async def test_a_header_hookline_or_http_owns_is_refused(hookline: Hookline, name: str) -> None:
    response = await create(hookline, headers={name: "x"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_field" and name in error["message"]


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "line\nbreak", "carriage\rreturn", "nul\x00", "bell\x07"])
async def test_a_header_value_with_cr_lf_or_control_characters_is_refused(hookline: Hookline, value: str) -> None:
    response = await create(hookline, headers={"X-Ok": value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"


@pytest.mark.parametrize("name", ["Bad Name", "X:Y", "", "Ünicode", "a\nb"])
async def test_an_invalid_header_name_is_refused(hookline: Hookline, name: str) -> None:
    response = await create(hookline, headers={name: "v"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_field"


async def test_a_header_named_twice_in_different_case_is_refused(hookline: Hookline) -> None:
    response = await create(hookline, headers={"X-Key": "a", "x-key": "b"})
    assert response.status_code == 400 and "twice" in response.json()["error"]["message"]


async def test_a_patch_with_a_bad_header_changes_nothing(hookline: Hookline) -> None:
    created = (await create(hookline, headers={"X-A": "1"})).json()
    path = f"/v1/subscriptions/{created['id']}"
    response = await hookline.admin.patch(path, json={"headers": {"Host": "evil"}})
    assert response.status_code == 400
    assert (await hookline.admin.get(path)).json()["headers"] == {"X-A": "1"}


@pytest.mark.parametrize("value", [0, 10001, -1, 2.5, "10", True, [5]])
async def test_a_rate_limit_outside_1_to_10000_is_refused(hookline: Hookline, value: Any) -> None:
    response = await create(hookline, rate_limit=value)
    assert response.status_code == 400
    assert "rate_limit" in response.json()["error"]["message"]


@pytest.mark.parametrize("value", [1, 10000])
async def test_the_rate_limit_bounds_are_accepted(hookline: Hookline, value: int) -> None:
    assert (await create(hookline, rate_limit=value)).status_code == 201


@pytest.mark.parametrize("value", ["5,300", [5, "x"], [-1], [3000000], [True], {"a": 1}, [1] * 31])
async def test_a_bad_retry_schedule_is_refused(hookline: Hookline, value: Any) -> None:
    response = await create(hookline, retry_schedule=value)
    assert response.status_code == 400
    assert "retry_schedule" in response.json()["error"]["message"]


async def test_an_empty_retry_schedule_means_no_retries(hookline: Hookline) -> None:
    response = await create(hookline, retry_schedule=[])
    assert response.status_code == 201 and response.json()["retry_schedule"] == []


@pytest.mark.parametrize(
    "flt",
    [
        {"status": []},
        {"status": "succeeded"},
        {"status": ["done"]},
        {"status": [1]},
        {"min_progress": -1},
        {"min_progress": 101},
        {"min_progress": 50.5},
        {"min_progress": "50"},
        {"min_progress": True},
    ],
)
async def test_a_bad_status_or_min_progress_filter_is_refused(hookline: Hookline, flt: dict[str, Any]) -> None:
    response = await create(hookline, filter=flt)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"
