"""What callers ask the store to create or change: a job registered ahead of its callbacks
(``POST /v1/jobs``, ``POST /v1/blend``) and a subscription PATCH."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hookline.models import Job, Subscription


@dataclass(slots=True)
class NewJob:
    """A job registered before its first callback (``POST /v1/jobs``)."""

    provider: str
    correlation_key: str | None
    upstream_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    subscription: Subscription | None = None  # the one-off subscription made from ``callback_url``
    origin: str = "registered"

    def job(self, job_id: str, now: float) -> Job:
        """The job this describes, queued with no snapshot yet, its one-off subscription pointed at it."""
        if self.subscription is not None:
            self.subscription.job_id = job_id
        return Job.new(
            job_id,
            self.provider,
            now,
            origin=self.origin,
            upstream_id=self.upstream_id,
            correlation_key=self.correlation_key,
            metadata=self.metadata,
        )


@dataclass(slots=True)
class SubscriptionChanges:
    """A PATCH: only the fields named in ``set_fields`` change."""

    url: str | None = None
    event_types: list[str] | None = None
    filter: dict[str, Any] | None = None
    description: str | None = None
    enabled: bool | None = None
    headers: dict[str, str] | None = None
    rate_limit: int | None = None
    retry_schedule: list[float] | None = None
    paused: bool | None = None
    set_fields: frozenset[str] = frozenset()

    def apply(self, sub: Subscription, now: float) -> None:
        """Set the changed fields on ``sub``. Enabling it forgets why it was disabled and its
        failures; disabling it says an operator did."""
        was_enabled = sub.enabled
        for name in self.set_fields:
            setattr(sub, name, getattr(self, name))
        sub.updated_at = now
        if sub.enabled and not was_enabled:
            sub.disabled_reason = None
            sub.failing_since = None
            sub.throttled_until = None
        elif was_enabled and not sub.enabled:
            sub.disabled_reason = "disabled by an operator"
