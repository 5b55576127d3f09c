"""``POST /callbacks/{provider}/{token}`` against a real hookline on loopback."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from tests.conftest import Hookline
from tests.support import MJPROXY_FAILURE, MJPROXY_LIFECYCLE, USEAPI_COMPLETED, USEAPI_FAILED, fixture_bytes


async def post_all(h: Hookline, provider: str, names: list[str]) -> list[dict[str, Any]]:
    answers = []
    for name in names:
        response = await h.post_callback(provider, fixture_bytes(name))
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


@pytest.mark.parametrize(
    ("provider", "names", "status", "progress", "images"),
    [
        ("mjproxy", MJPROXY_LIFECYCLE, "succeeded", 100, 1),
        ("mjproxy", MJPROXY_FAILURE, "failed", None, 0),
        ("useapi", USEAPI_COMPLETED, "succeeded", 100, 1),
        ("useapi", USEAPI_FAILED, "failed", None, 0),
    ],
)
async def test_fixture_lifecycle_gives_one_job(
    hookline: Hookline, provider: str, names: list[str], status: str, progress: int | None, images: int
) -> None:
    answers = await post_all(hookline, provider, names)
    assert len({a["job_id"] for a in answers}) == 1
    assert {a["outcome"] for a in answers} <= {"applied", "duplicate"}
    job = (await hookline.admin.get(f"/v1/jobs/{answers[0]['job_id']}")).json()
    assert (job["status"], job["progress"], len(job["image_urls"])) == (status, progress, images)
    assert job["correlation_key"] == "order-7f3a9c" and job["provider"] == provider
    assert len(job["callbacks"]) == len(names)


async def test_answer_names_the_outcome(hookline: Hookline) -> None:
    first = (await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[1]))).json()
    again = (await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[1]))).json()
    older = (await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))).json()
    assert [first["outcome"], again["outcome"], older["outcome"]] == ["applied", "duplicate", "stale"]
    assert first["callback_id"].startswith("cb_") and first["job_id"].startswith("job_")


async def test_conflicting_terminal_callback_is_recorded_not_applied(hookline: Hookline) -> None:
    await post_all(hookline, "mjproxy", ["mjproxy-blend-10-success.json"])
    late = (await hookline.post_callback("mjproxy", fixture_bytes("mjproxy-blend-90-failure-timeout.json"))).json()
    assert late["outcome"] == "conflict"
    job = (await hookline.admin.get(f"/v1/jobs/{late['job_id']}")).json()
    assert job["status"] == "succeeded"
    assert [c["outcome"] for c in job["callbacks"]] == ["conflict", "applied"]


async def test_wrong_token_is_401_and_stores_nothing(hookline: Hookline) -> None:
    response = await hookline.anon.post("/callbacks/mjproxy/not-the-token", content=fixture_bytes(MJPROXY_LIFECYCLE[0]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert (await hookline.admin.get("/v1/jobs")).json()["items"] == []
    assert (await hookline.admin.get("/v1/callbacks")).json()["items"] == []


async def test_non_json_is_400_and_kept_as_rejected(hookline: Hookline) -> None:
    response = await hookline.post_callback("mjproxy", b"<html>not json</html>")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid_callback" and "not valid JSON" in body["error"]["message"]
    log = (await hookline.admin.get("/v1/callbacks", params={"outcome": "rejected"})).json()["items"]
    assert [c["body"] for c in log] == ["<html>not json</html>"] and log[0]["job_id"] is None


async def test_body_without_task_id_is_400(hookline: Hookline) -> None:
    response = await hookline.post_callback("mjproxy", json.dumps({"status": "SUCCESS", "state": "x"}).encode())
    assert response.status_code == 400
    assert "no task id" in response.json()["error"]["message"]
    response = await hookline.post_callback("useapi", json.dumps({"status": "completed"}).encode())
    assert response.status_code == 400


async def test_body_over_the_limit_is_413(hookline_factory: Any, database_url: str) -> None:
    h = await hookline_factory(database_url, MAX_BODY_BYTES="2048")
    big = json.dumps({"id": "1", "status": "SUBMITTED", "pad": "x" * 4096}).encode()
    response = await h.post_callback("mjproxy", big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    chunked = await h.anon.post(h.callback_path("mjproxy"), content=_chunks(big))
    assert chunked.status_code == 413
    assert (await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))).status_code == 200


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    for i in range(0, len(data), 512):
        yield data[i : i + 512]


async def test_unknown_provider_and_wrong_method(hookline: Hookline) -> None:
    token = hookline.config.callback_token
    assert (await hookline.anon.post(f"/callbacks/other/{token}", content=b"{}")).status_code == 404
    response = await hookline.anon.get(hookline.callback_path("mjproxy"))
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def _mutations(rng: random.Random, seeds: list[Any]) -> Any:
    """Hostile variations of real payloads: wrong types, nulls, deletions, deep nesting, junk."""
    junk: list[Any] = [
        None,
        True,
        0,
        -1,
        1e308,
        2**70,
        "",
        "\u0000",
        "%",
        "NaN",
        [],
        {},
        [[[]]],
        "x" * 5000,
        {"a": {"b": {"c": [1, {"d": None}]}}},
        "💥",
        "100%",
        "-5%",
    ]
    base = json.loads(json.dumps(rng.choice(seeds)))
    for _ in range(rng.randint(1, 4)):
        if not isinstance(base, dict) or not base:
            break
        key = rng.choice(list(base))
        action = rng.random()
        if action < 0.5:
            base[key] = rng.choice(junk)
        elif action < 0.7:
            del base[key]
        else:
            base[
                rng.choice(
                    [
                        "id",
                        "status",
                        "progress",
                        "state",
                        "jobid",
                        "replyRef",
                        "content",
                        "attachments",
                        "request",
                        "response",
                        "imageUrl",
                        "imageUrls",
                    ]
                )
            ] = rng.choice(junk)
    if rng.random() < 0.1:
        return rng.choice(junk)
    return base


async def test_thousands_of_fuzzed_bodies_never_cause_a_5xx(hookline: Hookline) -> None:
    rng = random.Random(20261121)
    seeds = [json.loads(fixture_bytes(n)) for n in [*MJPROXY_LIFECYCLE, *USEAPI_COMPLETED, *USEAPI_FAILED]]
    bodies: list[tuple[str, bytes]] = []
    for i in range(3000):
        provider = rng.choice(["mjproxy", "useapi"])
        if i % 10 == 0:
            raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        elif i % 10 == 1:
            raw = json.dumps(rng.choice(seeds))[: rng.randint(0, 200)].encode()
        else:
            raw = json.dumps(_mutations(rng, seeds)).encode()
        bodies.append((provider, raw))
    semaphore = asyncio.Semaphore(32)
    statuses: list[int] = []

    async def send(provider: str, raw: bytes) -> None:
        async with semaphore:
            response = await hookline.post_callback(provider, raw)
            statuses.append(response.status_code)
            assert response.status_code < 500, (response.status_code, raw[:200], response.text)
            assert response.headers["content-type"].startswith("application/json")

    await asyncio.gather(*[send(p, b) for p, b in bodies])
    assert len(statuses) == 3000 and set(statuses) <= {200, 400}
    assert statuses.count(200) > 500 and statuses.count(400) > 500  # both paths are exercised
    health = await hookline.anon.get("/readyz")
    assert health.status_code == 200


async def test_headers_that_matter_are_kept(hookline: Hookline) -> None:
    response = await hookline.anon.post(
        hookline.callback_path("mjproxy"),
        content=fixture_bytes(MJPROXY_LIFECYCLE[0]),
        headers={"content-type": "application/json", "user-agent": "Java/1.8.0_292", "cookie": "secret=1"},
    )
    job = (await hookline.admin.get(f"/v1/jobs/{response.json()['job_id']}")).json()
    headers = job["callbacks"][0]["headers"]
    assert headers["user-agent"] == "Java/1.8.0_292" and "cookie" not in headers


async def test_request_id_is_returned(hookline: Hookline) -> None:
    response = await hookline.anon.get("/healthz", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
