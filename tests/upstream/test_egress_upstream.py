"""The upstream side under the egress policy: ``callback_url`` of ``POST /v1/blend`` is checked
exactly like a subscription URL, and an image URL the guard refuses outright fails at once, for
good (archive and blend inputs)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support import fixture_json
from tests.upstream.conftest import Sim, Upstreams, samples, wait_for_jobs

REFUSED_OUTRIGHT = ["http://127.1/x.png", "http://0177.0.0.1/x.png"]


async def refused_blend(h: Any, sim: Sim, body: dict[str, Any], status: int) -> dict[str, Any]:
    response = await h.admin.post("/v1/blend", json=body)
    assert response.status_code == status, response.text
    assert sim.sim.api_requests() == [] and (await h.admin.get("/v1/jobs")).json()["items"] == []
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(
    ("callback_url", "env", "message"),
    [
        ("http://nowhere.invalid/hook", {}, "callback_url is refused: cannot resolve 'nowhere.invalid'"),
        ("http://127.1/hook", {}, "callback_url is refused: '127.1' is an IPv4 address in shorthand"),
        ("http://169.254.169.254/hook", {}, "callback_url is refused: 169.254.169.254 is a cloud metadata endpoint"),
        ("http://127.0.0.1:9/hook", {"ALLOW_PRIVATE_TARGETS": "false"}, "callback_url is refused: 127.0.0.1 is a"),
        ("http://127.0.0.1:9/hook", {"HTTPS_ONLY": "true"}, "callback_url must be an https:// URL"),
    ],
)
async def test_a_blend_callback_url_is_checked_like_a_subscription_url(
    sim: Sim, upstreams: Upstreams, callback_url: str, env: dict[str, str], message: str
) -> None:
    h = await upstreams.start(sim, **env)
    body = {"provider": "useapi", "images": samples(sim), "callback_url": callback_url}
    error = await refused_blend(h, sim, body, 400)
    assert error["code"] == "url_refused" and error["message"].startswith(message), error


@pytest.mark.parametrize("image", REFUSED_OUTRIGHT)
async def test_a_blend_input_image_refused_outright_is_refused_at_once(
    sim: Sim, upstreams: Upstreams, image: str
) -> None:
    h = await upstreams.start(sim)
    error = await refused_blend(h, sim, {"provider": "mjproxy", "images": [samples(sim)[0], image]}, 422)
    assert error["message"].startswith("images[1] could not be fetched: refused by the egress guard"), error


@pytest.mark.parametrize("image", REFUSED_OUTRIGHT)
async def test_an_archive_image_refused_outright_fails_at_once_and_is_not_retried(
    sim: Sim, upstreams: Upstreams, image: str
) -> None:
    h = await upstreams.start(sim, ARCHIVE_RETRY_SCHEDULE="0.05,0.05,0.05")
    success = fixture_json("mjproxy-blend-10-success.json")
    success["imageUrl"] = image
    success.pop("imageUrls", None)
    assert (await h.post_callback("mjproxy", orjson.dumps(success))).status_code == 200
    (job,) = (await h.admin.get("/v1/jobs")).json()["items"]
    (done,) = await wait_for_jobs(h, [job["id"]], lambda j: j["archive"] and j["archive"]["state"] == "failed")
    assert done["archive"]["attempts"] == 1 and done["archive"]["next_attempt_at"] is None
    assert done["archive"]["last_error"].startswith("image 1: refused by the egress guard")
