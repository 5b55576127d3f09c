"""The retry policy: what one attempt's result means for the delivery. Pure: no I/O; the clock
and the random source for jitter are passed in.

- 2xx: delivered.
- 410 Gone: the subscription is disabled at once; the delivery waits (it resumes on re-enable).
- anything else (3xx included: redirects are not followed, timeouts, connection errors): retry
  after the next delay of the schedule, ±20 % jitter; once the schedule is exhausted, dead. The
  schedule is the subscription's own when it has one (``Claim.retry_schedule``), else the global one.
- ``Retry-After`` (seconds or an HTTP date) lengthens the delay; 429, 502, 503 and 504 also pause
  the whole subscription for that long, so a struggling endpoint is not hammered by its backlog.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from hookline.models import Attempt, Claim, Completion

SLOW_DOWN = frozenset({429, 502, 503, 504})


@dataclass(slots=True)
class AttemptResult:
    started_at: float
    latency_ms: float
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None  # seconds, from the Retry-After header


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...]
    jitter: float = 0.2
    max_retry_after: float = 24 * 3600.0

    def delay(self, attempts_made: int, rng: random.Random, schedule: tuple[float, ...] | None = None) -> float | None:
        """Seconds to wait after the ``attempts_made``-th failed attempt, by ``schedule`` (default:
        the policy's); None when exhausted."""
        steps = self.schedule if schedule is None else schedule
        if attempts_made > len(steps):
            return None
        base = steps[attempts_made - 1]
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)

    def decide(
        self, claim: Claim, result: AttemptResult, attempt_id: str, owner: str, now: float, rng: random.Random
    ) -> Completion:
        attempt = Attempt(
            id=attempt_id,
            delivery_id=claim.delivery_id,
            attempted_at=result.started_at,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_body=result.response_body,
        )
        code = result.status_code

        def outcome(status: str, next_attempt_at: float | None, **extra: Any) -> Completion:
            return Completion(
                delivery_id=claim.delivery_id,
                subscription_id=claim.subscription_id,
                owner=owner,
                attempt=attempt,
                status=status,
                next_attempt_at=next_attempt_at,
                success=status == "delivered",
                **extra,
            )

        if code is not None and 200 <= code < 300:
            return outcome("delivered", None)
        if code == 410:
            return outcome("pending", now, disable_reason="the endpoint answered 410 Gone")
        wait = self.delay(claim.attempts + 1, rng, claim.retry_schedule)
        if wait is None:
            return outcome("dead", None)
        retry_after = min(result.retry_after, self.max_retry_after) if result.retry_after is not None else None
        if retry_after is not None:
            wait = max(wait, retry_after)
        throttle = None
        if code in SLOW_DOWN:
            throttle = now + (retry_after if retry_after is not None else wait)
        return outcome("pending", now + wait, throttle_until=throttle)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After: 120`` or ``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`` → seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
