"""What each upstream answer to a blend means for the job (pure: no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support import fixture_json
from upstream import mjproxy, useapi
from upstream.client import Answer, says_unknown

JOB = "job_01TEST"


def answer(status: int, body: Any) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Answer(status, "application/json", raw)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (fixture_json("mjproxy-blend-00a-submit-ok.json"), "submitted"),
        (fixture_json("mjproxy-blend-00b-submit-queued.json"), "queued"),
        ({"code": 1, "description": "Submit success", "result": 1722931207538412}, "submitted"),  # a JSON number
        ({"code": "1", "description": "ok", "result": "1722931207538412"}, "submitted"),
    ],
)
def test_mjproxy_accepted(body: dict[str, Any], status: str) -> None:
    outcome = mjproxy.interpret(JOB, answer(200, body))
    assert outcome.kind == "sent" and outcome.snapshot is not None
    assert outcome.snapshot.upstream_id == "1722931207538412" and outcome.snapshot.correlation_key == JOB
    assert outcome.snapshot.status == status


def test_mjproxy_queue_full_is_held() -> None:
    outcome = mjproxy.interpret(JOB, answer(200, fixture_json("mjproxy-blend-00c-submit-queue-full.json")))
    assert outcome.kind == "hold" and "code 23" in (outcome.reason or "")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, fixture_json("mjproxy-blend-00d-submit-validation-error.json"), "code 4: base64List参数错误"),
        (200, {"code": 24, "description": "可能包含敏感词", "result": None}, "code 24: 可能包含敏感词"),
        (200, {"code": 1, "description": "提交成功", "result": None}, "but no task id"),
        (401, b"", "mjproxy answered HTTP 401: (empty body)"),
        (400, {"description": "quota_not_enough", "type": "upstream_error", "code": 4}, "HTTP 400"),
    ],
)
def test_mjproxy_refusals_fail_with_the_upstreams_words(status: int, body: Any, error: str) -> None:
    outcome = mjproxy.interpret(JOB, answer(status, body))
    assert outcome.kind == "refused" and outcome.snapshot is not None
    assert outcome.snapshot.status == "failed" and error in (outcome.snapshot.error or "")


@pytest.mark.parametrize("name", ["useapi-blend-00a-submit-200-v1.json", "useapi-blend-00b-submit-200-v2.json"])
def test_useapi_accepted_correlates_by_job_id_even_without_reply_ref(name: str) -> None:
    outcome = useapi.interpret(JOB, answer(200, fixture_json(name)))
    assert outcome.kind == "sent" and outcome.snapshot is not None
    assert outcome.snapshot.correlation_key == JOB and outcome.snapshot.status == "submitted"
    assert outcome.snapshot.upstream_id == fixture_json(name)["jobid"]


def test_useapi_422_is_moderated_with_its_jobid() -> None:
    body = fixture_json("useapi-blend-00e-submit-422-moderated.json")
    outcome = useapi.interpret(JOB, answer(422, body))
    assert outcome.kind == "refused" and outcome.snapshot is not None
    assert outcome.snapshot.status == "moderated" and outcome.snapshot.upstream_id == body["jobid"]
    assert outcome.snapshot.error == body["error"] and outcome.snapshot.correlation_key == JOB


def test_useapi_429_is_held() -> None:
    outcome = useapi.interpret(JOB, answer(429, fixture_json("useapi-blend-00f-submit-429-maxjobs.json")))
    assert outcome.kind == "hold" and "3 jobs executing" in (outcome.reason or "")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (412, fixture_json("useapi-blend-00d-submit-412-error.json"), "HTTP 412: blendUrls, discord, server"),
        (402, {"error": "Subscription expired", "code": 402}, "HTTP 402: Subscription expired"),
        (400, {"error": "blendUrls, discord, server or channel value is missing", "code": 400}, "HTTP 400: blend"),
    ],
)
def test_useapi_refusals_fail_with_the_upstreams_words(status: int, body: Any, error: str) -> None:
    outcome = useapi.interpret(JOB, answer(status, body))
    assert outcome.kind == "refused" and outcome.snapshot is not None
    assert outcome.snapshot.status == "failed" and error in (outcome.snapshot.error or "")


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b"<html>Internal Server Error</html>", "mjproxy answered HTTP 500: <html>Internal Server Error"),
        (502, b"<html><h1>502 Bad Gateway</h1></html>", "HTTP 502: <html><h1>502 Bad Gateway"),
        (504, b"", "HTTP 504: (empty body)"),
        (408, b"", "HTTP 408"),
        (425, b"", "HTTP 425"),
        # new-api: code 30 (the group is saturated) comes as HTTP 429 …
        (429, {"description": "当前分组负载已饱和", "type": "upstream_error", "code": 30}, "HTTP 429"),
        # … and its own upstream being unreachable as HTTP 400 do_request_failed.
        (400, {"description": "do_request_failed ", "type": "upstream_error", "code": 4}, "do_request_failed"),
        (200, {"code": 30, "description": "busy", "result": None}, "mjproxy busy (code 30)"),
    ],
)
def test_mjproxy_temporary_trouble_is_held(status: int, body: Any, reason: str) -> None:
    outcome = mjproxy.interpret(JOB, answer(status, body))
    assert outcome.kind == "hold" and outcome.snapshot is None and reason in (outcome.reason or "")


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (504, {"error": "Job queued. The API will not be able to track", "code": 504}, "HTTP 504: Job queued"),
        (502, b"Bad Gateway", "HTTP 502: Bad Gateway"),
        (503, b"", "HTTP 503: (empty body)"),
        (408, b"", "HTTP 408"),
        (429, {"error": "Discord rate limit", "code": 429}, "useapi maxJobs reached (429): Discord rate limit"),
    ],
)
def test_useapi_temporary_trouble_is_held(status: int, body: Any, reason: str) -> None:
    outcome = useapi.interpret(JOB, answer(status, body))
    assert outcome.kind == "hold" and reason in (outcome.reason or "")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b""),
        (200, b"null"),
        (204, b""),
        (404, b"not found"),
        (410, b"{}"),
        (400, b'{"description":"task_no_found"}'),
    ],
)
def test_poll_answers_that_say_the_task_is_unknown(status: int, body: bytes) -> None:
    assert says_unknown(Answer(status, None, body))


@pytest.mark.parametrize(("status", "body"), [(400, b'{"error":"bad"}'), (500, b""), (401, b"")])
def test_poll_errors_are_not_unknown(status: int, body: bytes) -> None:
    assert not says_unknown(Answer(status, None, body))


def test_useapi_sends_max_jobs_only_when_it_is_set() -> None:
    from hookline.config import Config

    request = {"images": ["https://a.example/a.png", "https://a.example/b.png"]}
    unset = Config.from_env({"HOOKLINE_USEAPI_TOKEN": "t"}).upstream
    chosen = Config.from_env({"HOOKLINE_USEAPI_TOKEN": "t", "HOOKLINE_USEAPI_MAX_JOBS": "5"}).upstream
    assert "maxJobs" not in useapi.blend_body("job_1", request, "https://h.example/cb", unset)
    assert useapi.blend_body("job_1", request, "https://h.example/cb", chosen)["maxJobs"] == 5
    assert unset.useapi_max_jobs == 3  # hookline's own bound on running jobs stays


def test_request_bodies_match_the_fixtures() -> None:
    from hookline.config import Config

    mj_fixture = fixture_json("mjproxy-blend-00e-submit-request.json")
    mj = mjproxy.blend_body(
        "order-7f3a9c", {"images": mj_fixture["base64Array"], "dimensions": "portrait"}, mj_fixture["notifyHook"]
    )
    assert mj == mj_fixture
    ua_fixture = fixture_json("useapi-blend-00c-submit-request.json")
    cfg = Config.from_env(
        {
            "HOOKLINE_USEAPI_TOKEN": "t",
            "HOOKLINE_USEAPI_DISCORD": ua_fixture["discord"],
            "HOOKLINE_USEAPI_SERVER": ua_fixture["server"],
            "HOOKLINE_USEAPI_CHANNEL": ua_fixture["channel"],
            "HOOKLINE_USEAPI_MAX_JOBS": str(ua_fixture["maxJobs"]),
        }
    ).upstream
    request = {"images": ua_fixture["blendUrls"], "dimensions": "portrait"}
    body = useapi.blend_body("order-7f3a9c", request, ua_fixture["replyUrl"], cfg)
    assert body == ua_fixture and list(body) == list(ua_fixture)
