"""The pure rules behind per-subscription settings (issue 15): a claim's own retry schedule, the
status / min_progress filters, and the rate limit's send slots."""

from __future__ import annotations

import random

import orjson
import pytest

from hookline.events import build_event
from hookline.fanout import matches
from hookline.models import Claim, Job
from hookline.ratelimit import HORIZON, MARGIN, interval, slots
from hookline.retry import AttemptResult, RetryPolicy
from tests.hookline.test_store import subscription

NOW = 1_800_000_000.0


def failed_attempt(schedule: tuple[float, ...] | None, attempts: int) -> str | float | None:
    claim = Claim(
        "dlv_1", "msg_1", "sub_1", "job_1", "https://x", b"{}", ["whsec_x"], attempts, retry_schedule=schedule
    )
    outcome = RetryPolicy((3600.0,), jitter=0.0).decide(
        claim, AttemptResult(NOW, 1.0, status_code=500), "att_1", "me", NOW, random.Random(1)
    )
    return outcome.status if outcome.next_attempt_at is None else outcome.next_attempt_at - NOW


def test_a_claims_own_schedule_replaces_the_global_one() -> None:
    assert failed_attempt((10.0, 20.0), 0) == 10.0
    assert failed_attempt((10.0, 20.0), 1) == 20.0
    assert failed_attempt((10.0, 20.0), 2) == "dead"
    assert failed_attempt(None, 0) == 3600.0


def test_an_empty_schedule_makes_the_first_failure_final() -> None:
    assert failed_attempt((), 0) == "dead"


def job(status: str, progress: int | None) -> Job:
    j = Job.new("job_1", "mjproxy", NOW, origin="callback")
    j.status, j.progress, j.sequence = status, progress, 1
    return j


@pytest.mark.parametrize(
    ("flt", "status", "progress", "sent"),
    [
        ({"status": ["succeeded"]}, "succeeded", 100, True),
        ({"status": ["succeeded"]}, "in_progress", 40, False),
        ({"min_progress": 50}, "in_progress", 49, False),
        ({"min_progress": 50}, "in_progress", 50, True),
        ({"min_progress": 50}, "submitted", None, False),
        ({"min_progress": 50}, "failed", None, True),  # the outcome always passes
        ({"min_progress": 0}, "submitted", None, True),
        ({"status": ["in_progress"], "min_progress": 50}, "in_progress", 60, True),
    ],
)
def test_state_filters(flt: dict[str, object], status: str, progress: int | None, sent: bool) -> None:
    j = job(status, progress)
    event = build_event(j, "job.progress", NOW, upstream=None, callback_id=None)
    assert matches(subscription(filter=flt), j, "job.progress", event) is sent


def test_a_filter_reads_the_state_the_event_reports_not_the_jobs_latest() -> None:
    j = job("in_progress", 20)
    early = build_event(j, "job.progress", NOW, upstream=None, callback_id=None)
    j.progress = 80  # the job moved on within the same batch
    assert orjson.loads(early.head)["data"]["progress"] == 20
    assert not matches(subscription(filter={"min_progress": 50}), j, "job.progress", early)


def test_slots_are_spaced_so_any_rate_plus_one_span_more_than_a_second() -> None:
    taken, next_at = slots(None, NOW, 10, 100)
    assert taken == pytest.approx([NOW + i * interval(10) for i in range(len(taken))])
    assert taken[-1] <= NOW + HORIZON < next_at
    assert interval(10) * 10 == pytest.approx(1 + MARGIN)


def test_slots_continue_from_the_bucket_and_never_start_in_the_past() -> None:
    assert slots(NOW + 0.5, NOW, 2, 1) == ([NOW + 0.5], pytest.approx(NOW + 0.5 + interval(2)))
    assert slots(NOW - 60, NOW, 2, 1)[0] == [NOW]
    assert slots(NOW + HORIZON + 0.1, NOW, 2, 3)[0] == []
