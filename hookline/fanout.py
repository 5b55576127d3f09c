"""Fan-out: which subscriptions get which event, and the delivery rows that carry it.

A subscription matches an event when it is enabled, its ``event_types`` (if any) include the
type, its one-off ``job_id`` (if any) is the event's job, and every key of its ``filter`` holds:
``provider``, ``correlation_key``, ``correlation_key_prefix`` and ``metadata`` (each given key
equal in the job's metadata).

Per-job ordering: the deliveries of one (subscription, job) pair form a chain. Only the chain's
head is due (``next_attempt_at`` set); the rest wait with ``next_attempt_at`` = None and are
promoted one at a time when the head is delivered or dead. A paused subscription's deliveries
are all held; resuming it makes the head of each chain due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hookline.ids import new_id
from hookline.models import Event, Job, Subscription

FILTER_KEYS = ("provider", "correlation_key", "correlation_key_prefix", "metadata")


def matches(sub: Subscription, job: Job, event_type: str) -> bool:
    """True when ``sub`` should receive an event of ``event_type`` about ``job``."""
    if not sub.enabled:
        return False
    if sub.job_id is not None and sub.job_id != job.id:
        return False
    if sub.event_types and event_type not in sub.event_types:
        return False
    return filter_matches(sub.filter, job)


def filter_matches(flt: dict[str, Any], job: Job) -> bool:
    provider = flt.get("provider")
    if provider is not None and provider != job.provider:
        return False
    key = flt.get("correlation_key")
    if key is not None and key != job.correlation_key:
        return False
    prefix = flt.get("correlation_key_prefix")
    if prefix is not None and not (job.correlation_key or "").startswith(prefix):
        return False
    wanted = flt.get("metadata")
    if wanted:
        for name, value in wanted.items():
            if job.metadata.get(name) != value:
                return False
    return True


@dataclass(slots=True)
class NewDelivery:
    id: str
    event_id: str
    subscription_id: str
    job_id: str
    event_type: str
    sequence: int
    next_attempt_at: float | None  # None: waiting behind an earlier delivery of the same chain
    created_at: float


class SubscriptionSet:
    """The enabled subscriptions, with one-off (per-job) subscriptions indexed by job, so fan-out
    costs O(general subscriptions) per event however many one-off subscriptions exist."""

    def __init__(self, subscriptions: Iterable[Subscription]) -> None:
        self.general: list[Subscription] = []
        self.by_job: dict[str, list[Subscription]] = {}
        for sub in subscriptions:
            if not sub.enabled:
                continue
            if sub.job_id is None:
                self.general.append(sub)
            else:
                self.by_job.setdefault(sub.job_id, []).append(sub)

    def __bool__(self) -> bool:
        return bool(self.general or self.by_job)

    def candidates(self, job_id: str) -> list[Subscription]:
        extra = self.by_job.get(job_id)
        return self.general + extra if extra else self.general


def plan_deliveries(
    events: Iterable[Event],
    jobs: dict[str, Job],
    subscriptions: SubscriptionSet,
    open_chains: set[tuple[str, str]],
    now: float,
) -> list[NewDelivery]:
    """One delivery per (event, matching subscription). ``open_chains`` holds the (subscription id,
    job id) pairs that already have a pending delivery; it is updated with the new ones."""
    planned: list[NewDelivery] = []
    if not subscriptions:
        return planned
    for event in events:
        job = jobs[event.job_id]
        for sub in subscriptions.candidates(job.id):
            if not matches(sub, job, event.type):
                continue
            chain = (sub.id, job.id)
            waiting = chain in open_chains
            open_chains.add(chain)
            planned.append(
                NewDelivery(
                    id=new_id("dlv"),
                    event_id=event.id,
                    subscription_id=sub.id,
                    job_id=job.id,
                    event_type=event.type,
                    sequence=event.sequence,
                    # Held: behind the chain's head, or until a paused subscription is resumed.
                    next_attempt_at=None if waiting or sub.paused else now,
                    created_at=now,
                )
            )
    return planned
