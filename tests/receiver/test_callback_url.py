"""The callback URL with a trailing slash (``/callbacks/{provider}/{token}/``) is answered directly:
Java senders (midjourney-proxy's RestTemplate) do not follow a redirect for a POST and count the 3xx
as delivered, so a redirect would lose the callback."""

from __future__ import annotations

from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes


async def test_a_trailing_slash_is_served_without_a_redirect(hookline: Hookline) -> None:
    response = await hookline.anon.post(
        hookline.callback_path("mjproxy") + "/",
        content=fixture_bytes(MJPROXY_LIFECYCLE[-1]),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200 and "location" not in response.headers
    assert response.json()["outcome"] == "applied"
    job = (await hookline.admin.get(f"/v1/jobs/{response.json()['job_id']}")).json()
    assert job["status"] == "succeeded" and len(job["callbacks"]) == 1


async def test_a_trailing_slash_with_a_wrong_token_is_still_401(hookline: Hookline) -> None:
    response = await hookline.anon.post("/callbacks/mjproxy/not-the-token/", content=b"{}")
    assert response.status_code == 401
