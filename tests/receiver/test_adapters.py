"""The adapters read every payload variant PROVIDERS.md describes, leniently."""

from __future__ import annotations

import pytest

from receiver.adapters import ADAPTERS, AdapterError
from tests.support import fixture_json

mjproxy = ADAPTERS["mjproxy"]
useapi = ADAPTERS["useapi"]


def test_mjproxy_submitted_fixture() -> None:
    snap = mjproxy(fixture_json("mjproxy-blend-01-submitted.json"))
    assert (snap.upstream_id, snap.correlation_key, snap.status, snap.progress) == (
        "1722931207538412",
        "order-7f3a9c",
        "submitted",
        0,
    )
    assert snap.action == "blend"


def test_mjproxy_progress_and_preview_image() -> None:
    snap = mjproxy(fixture_json("mjproxy-blend-06-in-progress-46.json"))
    assert snap.status == "in_progress" and snap.progress == 46
    assert snap.image_urls and snap.image_urls[0].startswith("https://cdn.discordapp.com/")


def test_mjproxy_success_has_final_image_and_full_progress() -> None:
    snap = mjproxy(fixture_json("mjproxy-blend-10-success.json"))
    assert snap.status == "succeeded" and snap.progress == 100
    assert snap.image_urls == (fixture_json("mjproxy-blend-10-success.json")["imageUrl"],)


def test_mjproxy_failure_keeps_reason_and_drops_stale_preview() -> None:
    snap = mjproxy(fixture_json("mjproxy-blend-90-failure-timeout.json"))
    assert snap.status == "failed" and snap.error == "任务超时"
    assert snap.progress is None and snap.image_urls == ()


@pytest.mark.parametrize(
    ("progress", "expected"),
    [("46%", 46), ("", 0), ("Waiting to start", 0), (46, 46), ("46", 46), (None, 0), ("120%", 100)],
)
def test_mjproxy_progress_is_parsed_leniently(progress: object, expected: int) -> None:
    snap = mjproxy({"id": "1", "status": "IN_PROGRESS", "progress": progress})
    assert snap.progress == expected


def test_mjproxy_numeric_id_and_state() -> None:
    snap = mjproxy({"id": 1722931207538412, "status": "SUCCESS", "state": 42, "imageUrl": "https://x/y.png"})
    assert snap.upstream_id == "1722931207538412" and snap.correlation_key == "42"


def test_mjproxy_plus_modal_and_cancel_statuses() -> None:
    assert mjproxy({"id": "1", "status": "MODAL", "progress": "0%", "buttons": []}).status == "in_progress"
    cancelled = mjproxy({"id": "1", "status": "CANCEL", "failReason": "user cancelled"})
    assert cancelled.status == "cancelled" and cancelled.error == "user cancelled"


def test_trueai_fork_image_urls_and_unknown_fields_kept() -> None:
    body = {
        "id": "2",
        "status": "SUCCESS",
        "progress": "100%",
        "imageUrl": "https://cdn/a.png",
        "imageUrls": [{"url": "https://cdn/a.png"}, {"url": "https://cdn/b.png"}],
        "isCompleted": True,
        "seed": "123",
        "displays": {"x": 1},
    }
    snap = mjproxy(body)
    assert snap.image_urls == ("https://cdn/a.png", "https://cdn/b.png")
    assert snap.raw["seed"] == "123"


def test_new_api_dto_with_zero_timestamps_and_empty_strings() -> None:
    snap = mjproxy(
        {
            "id": "3",
            "action": "BLEND",
            "status": "NOT_START",
            "progress": "",
            "startTime": 0,
            "customId": "",
            "botType": "",
            "imageUrl": "",
            "state": "",
        }
    )
    assert snap.status == "queued" and snap.correlation_key is None and snap.image_urls == ()


@pytest.mark.parametrize("body", [{}, {"id": None, "status": "SUCCESS"}, {"id": "", "status": "SUCCESS"}])
def test_mjproxy_without_task_id_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(AdapterError, match="no task id"):
        mjproxy(body)


def test_mjproxy_unknown_status_is_refused_with_the_choices() -> None:
    with pytest.raises(AdapterError, match="unknown status 'EXPLODED'"):
        mjproxy({"id": "1", "status": "EXPLODED"})


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_non_object_bodies_are_refused(body: object) -> None:
    with pytest.raises(AdapterError, match="JSON object"):
        mjproxy(body)
    with pytest.raises(AdapterError, match="JSON object"):
        useapi(body)


def test_useapi_progress_from_content() -> None:
    snap = useapi(fixture_json("useapi-blend-01-get-job-progress.json"))
    assert snap.status == "in_progress" and snap.progress == 46
    assert snap.correlation_key == "order-7f3a9c"


def test_useapi_completed_uses_attachments() -> None:
    doc = fixture_json("useapi-blend-10-callback-completed.json")
    snap = useapi(doc)
    assert snap.status == "succeeded" and snap.progress == 100
    assert snap.image_urls == (doc["attachments"][0]["url"],)
    assert snap.upstream_id == doc["jobid"]


def test_useapi_failed_combines_error_and_details() -> None:
    snap = useapi(fixture_json("useapi-blend-90-callback-failed.json"))
    assert snap.status == "failed"
    assert snap.error == "Invalid link: Could not validate this link. Please try again later."


def test_useapi_started_waiting_to_start_is_submitted() -> None:
    snap = useapi(fixture_json("useapi-blend-00a-submit-200-v1.json"))
    assert snap.status == "submitted" and snap.progress == 0


def test_useapi_v3_request_response_shape() -> None:
    snap = useapi(
        {
            "jobid": "j3",
            "verb": "blend",
            "status": "progress",
            "request": {"replyRef": "ref-v3", "blendUrls": ["https://a", "https://b"]},
            "response": {"content": "... (10%) (fast)", "progress_percent": 62, "attachments": []},
        }
    )
    assert (snap.correlation_key, snap.status, snap.progress) == ("ref-v3", "in_progress", 62)


def test_useapi_v3_attachments_in_response() -> None:
    snap = useapi(
        {
            "jobid": "j3",
            "status": "completed",
            "request": {},
            "response": {"replyRef": "r", "attachments": [{"url": "https://cdn/x.png"}]},
        }
    )
    assert snap.image_urls == ("https://cdn/x.png",) and snap.correlation_key == "r"


def test_useapi_percentage_inside_the_prompt_is_not_progress() -> None:
    snap = useapi({"jobid": "j", "status": "progress", "content": "**a cat 50% dog** - <@1> (15%) (relaxed)"})
    assert snap.progress == 15


def test_useapi_moderated() -> None:
    snap = useapi({"jobid": "j", "status": "moderated", "error": "Unable to find posted message"})
    assert snap.status == "moderated" and snap.error == "Unable to find posted message"


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("取消任务", "cancelled"),  # trueai: a user's cancel
        ("Task cancelled by user", "cancelled"),
        ("[Image denied] The image was flagged by our moderation", "moderated"),
        ("Banned prompt detected", "moderated"),
        ("banned word: blend", "moderated"),
        ("Request was moderated", "moderated"),
        ("提示词违规", "moderated"),
        ("可能包含敏感词", "moderated"),
        ("[Invalid link] Could not validate this link. Please try again later.", "failed"),
        ("任务超时", "failed"),
        ("[Internal Server Error] connection reset", "failed"),
    ],
)
def test_mjproxy_failures_are_classified_by_their_text(reason: str, status: str) -> None:
    snap = mjproxy({"id": "1", "status": "FAILURE", "progress": "", "failReason": reason})
    assert snap.status == status and snap.error == reason  # the upstream's words stay


def test_a_payload_without_a_status_says_nothing() -> None:
    from receiver.adapters import NoStatus

    for parse, doc in ((mjproxy, {"id": "1", "status": ""}), (useapi, {"jobid": "j1"})):
        with pytest.raises(NoStatus):
            parse(doc)
