"""``POST /v1/blend``: validated as the upstreams would, before anything is stored or sent; then
mapped onto each upstream's request."""

from __future__ import annotations

import base64
from typing import Any

from simulator import png
from tests.conftest import Hookline
from tests.upstream.conftest import Sim, Upstreams, blend, samples

PNG = png.render(20, 20, "inline")
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
TEXT_AS_PNG = "data:image/png;base64," + base64.b64encode(b"hello, not an image").decode()


async def rejected(h: Hookline, sim: Sim, body: Any, status: int = 400) -> str:
    """Post ``body``; check the status, the error shape, that no job exists and that nothing reached
    the upstream; return the message."""
    response = (
        await h.admin.post("/v1/blend", json=body)
        if not isinstance(body, bytes)
        else (await h.admin.post("/v1/blend", content=body))
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert sim.sim.api_requests() == []
    assert (await h.admin.get("/v1/jobs")).json()["items"] == []
    message: str = error["message"]
    return message


def good(sim: Sim, provider: str = "mjproxy", **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "images": samples(sim), **extra}


MJPROXY_RULES: list[tuple[dict[str, Any], str]] = [
    ({"provider": None}, "provider is required"),
    ({"provider": "midjourney"}, "provider must be one of mjproxy, useapi"),
    ({"prompt": "a cat"}, "unknown field 'prompt'"),
    ({"images": None}, "images is required"),
    ({"images": "https://a.example/a.png"}, "images must be a list of 2 to 5"),
    ({"images": ["https://a.example/a.png"]}, "images must be a list of 2 to 5"),
    ({"images": ["https://a.example/a.png"] * 6}, "images must be a list of 2 to 5"),
    ({"images": ["https://a.example/a.png", 5]}, "images[1] must be a string"),
    ({"images": ["ftp://a.example/a.png", "https://a.example/b.png"]}, "images[0] must be an http:// or https://"),
    ({"images": ["https://a.example/a.png", "a.png"]}, "images[1] must be an http:// or https://"),
    ({"images": [DATA_URI, "data:image/png;base64,%%%"]}, "images[1] is not valid base64"),
    ({"images": [DATA_URI, "data:text/plain;base64,aGk="]}, "images[1] is not a data URI of the form"),
    ({"images": [TEXT_AS_PNG, DATA_URI]}, "images[0] does not hold a PNG, JPEG, WebP or GIF"),
    ({"dimensions": "tall"}, "dimensions must be one of portrait, square, landscape"),
    ({"dimensions": "PORTRAIT"}, "dimensions must be one of portrait, square, landscape"),
    ({"bot_type": "dall_e"}, "bot_type must be one of mid_journey, niji_journey"),
    ({"correlation_key": "k" * 1025}, "correlation_key must be at most 1024 characters"),
    ({"correlation_key": ""}, "correlation_key must not be empty"),
    ({"correlation_key": 7}, "correlation_key must be a string"),
    ({"metadata": [1]}, "metadata must be a JSON object"),
    ({"callback_url": "ftp://x.example/"}, "callback_url must be an http:// or https:// URL"),
]
USEAPI_RULES: list[tuple[dict[str, Any], str]] = [
    ({"images": [DATA_URI, "https://a.example/b.png"]}, "images[0] is a data URI, but useapi.net"),
    ({"bot_type": "niji_journey"}, "bot_type applies to the midjourney-proxy family only"),
    ({"dimensions": "Square"}, "dimensions must be one of"),
]
URL_IMAGE_RULES = [
    ("missing.png", "images[1] could not be fetched: HTTP 404"),
    ("page.html", "images[1] could not be fetched: content type text/html is not an image"),
    ("liar.png", "images[1] could not be fetched: is served as image/png but is not a PNG"),
    ("big.png", "images[1] could not be fetched: is larger than 1024 bytes"),
]


async def check_rules(h: Hookline, sim: Sim, cases: list[tuple[Any, str]], status: int = 400) -> None:
    """Every case is refused with ``status`` and a message holding its fragment; report all misses."""
    problems = []
    for body, fragment in cases:
        try:
            message = await rejected(h, sim, body, status)
            assert fragment in message, f"{message!r} does not say {fragment!r}"
        except AssertionError as exc:
            problems.append(f"{str(body)[:120]}: {exc}")
    assert not problems, "\n".join(problems)


async def test_every_mjproxy_rule_names_the_field_and_sends_nothing(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim)
    cases = [({k: v for k, v in {**good(sim), **change}.items() if v is not None}, f) for change, f in MJPROXY_RULES]
    await check_rules(h, sim, cases)


async def test_every_useapi_rule_names_the_field_and_sends_nothing(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim)
    await check_rules(h, sim, [({**good(sim, "useapi"), **change}, f) for change, f in USEAPI_RULES])


async def test_a_body_that_is_not_an_object_is_refused(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim)
    await check_rules(h, sim, [(raw, "JSON") for raw in (b"", b"{", b"[1, 2]", b"null")])


async def test_an_unconfigured_provider_is_refused(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim, MJPROXY_URL="", USEAPI_TOKEN="")
    for provider, setting in (("mjproxy", "HOOKLINE_MJPROXY_URL"), ("useapi", "HOOKLINE_USEAPI_TOKEN")):
        message = await rejected(h, sim, good(sim, provider))
        assert f"provider {provider} is not configured" in message and setting in message


async def test_reply_url_over_1024_characters_is_refused(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim, PUBLIC_URL="http://127.0.0.1:9/" + "p" * 1000)
    assert "replyUrl" in await rejected(h, sim, good(sim, "useapi"), status=422)
    await blend(h, "mjproxy", samples(sim))  # midjourney-proxy sets no such limit on notifyHook


async def test_mjproxy_url_images_that_cannot_be_used_are_refused(
    sim: Sim, upstreams: Upstreams, image_server: str
) -> None:
    h = await upstreams.start(sim, BLEND_IMAGE_MAX_BYTES="1024")
    cases = [(good(sim, images=[DATA_URI, f"{image_server}/{name}"]), f) for name, f in URL_IMAGE_RULES]
    await check_rules(h, sim, cases, status=422)


async def test_mjproxy_url_images_go_through_the_egress_guard(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim, ALLOW_PRIVATE_TARGETS="false")
    message = await rejected(h, sim, good(sim), status=422)
    assert "images[0] could not be fetched: refused by the egress guard" in message
    assert "loopback" in message


async def test_the_admin_token_is_required(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim)
    response = await h.anon.post("/v1/blend", json=good(sim))
    assert response.status_code == 401 and sim.sim.api_requests() == []


async def test_mjproxy_gets_data_uris_its_enums_and_hooklines_callback(
    sim: Sim, upstreams: Upstreams, image_server: str
) -> None:
    h = await upstreams.start(sim, MJPROXY_TOKEN="mj-secret-for-tests")
    job = await blend(
        h,
        "mjproxy",
        [DATA_URI, f"{image_server}/moved.png"],
        dimensions="portrait",
        bot_type="niji_journey",
        metadata={"order": 7},
    )
    assert job["status"] == "queued" and job["origin"] == "submitted" and job["metadata"] == {"order": 7}
    assert job["correlation_key"] == job["id"] and job["submission"]["state"] == "pending"
    await _wait_sent(h, sim, job["id"])
    (sent,) = sim.sim.submissions("mjproxy")
    body = sent.json()
    assert body["dimensions"] == "PORTRAIT" and body["botType"] == "NIJI_JOURNEY"
    assert body["state"] == job["id"] and body["notifyHook"] == h.rt.callback_url("mjproxy")
    assert sent.headers["mj-api-secret"] == "mj-secret-for-tests"
    decoded = [base64.b64decode(uri.split(",", 1)[1]) for uri in body["base64Array"]]
    assert decoded == [PNG, png.render(40, 40, "input")]  # the redirect was followed, the bytes kept
    assert all(uri.startswith("data:image/png;base64,") for uri in body["base64Array"])


async def test_useapi_gets_urls_its_enums_the_account_and_hooklines_callback(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim, USEAPI_SERVER="1118138338000000000", USEAPI_CHANNEL="1118", USEAPI_MAX_JOBS="2")
    images = samples(sim, "a", "b", "c")
    job = await blend(h, "useapi", images, dimensions="landscape", correlation_key="order-1")
    assert job["correlation_key"] == "order-1" and job["submission"]["channel"] == "useapi:1118"
    await _wait_sent(h, sim, job["id"])
    (sent,) = sim.sim.submissions("useapi")
    assert sent.json() == {
        "blendUrls": images,
        "blendDimensions": "Landscape",
        "discord": "discord-token-for-tests",
        "server": "1118138338000000000",
        "channel": "1118",
        "maxJobs": 2,
        "replyUrl": h.rt.callback_url("useapi"),
        "replyRef": job["id"],
    }
    assert sent.headers["authorization"] == "Bearer useapi-token-for-tests"


async def test_without_dimensions_the_upstream_default_applies(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim)
    jobs = [await blend(h, provider, samples(sim)) for provider in ("mjproxy", "useapi")]
    for job in jobs:
        await _wait_sent(h, sim, job["id"])
    assert "dimensions" not in sim.sim.submissions("mjproxy")[0].json()
    assert "blendDimensions" not in sim.sim.submissions("useapi")[0].json()


async def _wait_sent(h: Hookline, sim: Sim, job_id: str) -> None:
    from tests.support import wait_for
    from tests.upstream.conftest import job as get_job

    async def sent() -> bool:
        return bool((await get_job(h, job_id))["submission"]["state"] == "sent")

    await wait_for(sent, what="the blend to be sent")
