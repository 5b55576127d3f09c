"""The retry policy, pure: schedule, jitter, Retry-After, slow-down, 410, dead."""

from __future__ import annotations

import random

import pytest

from hookline.config import DEFAULT_RETRY_SCHEDULE
from hookline.models import Claim
from hookline.retry import AttemptResult, RetryPolicy, parse_retry_after

NOW = 1_800_000_000.0


def claim(attempts: int = 0) -> Claim:
    return Claim("dlv_1", "msg_1", "sub_1", "job_1", "https://x", b"{}", ["whsec_x"], attempts)


def decide(policy: RetryPolicy, attempts: int, status: int | None, retry_after: float | None = None, seed: int = 1):  # type: ignore[no-untyped-def]
    result = AttemptResult(NOW, 1.0, status_code=status, retry_after=retry_after)
    return policy.decide(claim(attempts), result, "att_1", "me", NOW, random.Random(seed))


def test_default_schedule_is_eight_attempts_then_dead() -> None:
    policy = RetryPolicy(DEFAULT_RETRY_SCHEDULE)
    statuses = [decide(policy, made, 500).status for made in range(8)]
    assert statuses == ["pending"] * 7 + ["dead"]


@pytest.mark.parametrize(("made", "base"), list(enumerate(DEFAULT_RETRY_SCHEDULE)))
def test_delays_follow_the_schedule_within_twenty_percent(made: int, base: float) -> None:
    policy = RetryPolicy(DEFAULT_RETRY_SCHEDULE)
    delays = [decide(policy, made, 500, seed=s).next_attempt_at - NOW for s in range(200)]  # type: ignore[operator]
    assert min(delays) >= base * 0.8 and max(delays) <= base * 1.2
    assert max(delays) - min(delays) > base * 0.2  # jitter spreads retries


def test_success_is_delivered() -> None:
    outcome = decide(RetryPolicy((5.0,)), 0, 204)
    assert (outcome.status, outcome.success, outcome.next_attempt_at) == ("delivered", True, None)


def test_gone_disables_and_keeps_the_delivery() -> None:
    outcome = decide(RetryPolicy((5.0,)), 0, 410)
    assert outcome.status == "pending" and outcome.disable_reason and "410" in outcome.disable_reason


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_slow_down_statuses_throttle_the_subscription(status: int) -> None:
    outcome = decide(RetryPolicy((5.0, 5.0)), 0, status)
    assert outcome.throttle_until is not None and outcome.throttle_until == outcome.next_attempt_at


def test_retry_after_lengthens_the_wait() -> None:
    outcome = decide(RetryPolicy((5.0, 5.0)), 0, 429, retry_after=120)
    assert outcome.next_attempt_at == NOW + 120 and outcome.throttle_until == NOW + 120


def test_other_failures_do_not_throttle() -> None:
    for status in (None, 301, 400, 500):
        assert decide(RetryPolicy((5.0, 5.0)), 0, status).throttle_until is None


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Fri, 15 Jan 2027 08:00:30 GMT", 1_800_000_000.0) == pytest.approx(30.0, abs=1)
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None
