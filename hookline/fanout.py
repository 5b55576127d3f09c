"""Fan-out: which subscriptions get which event, and the delivery rows that carry it.

A subscription matches an event when it is enabled, its ``event_types`` (if any) include the
type, its one-off ``job_id`` (if any) is the event's job, and every key of its ``filter`` holds:
``provider``, ``correlation_key``, ``correlation_key_prefix``, ``metadata`` (each given key
equal in the job's metadata), ``status`` (the job's status the event reports is one of these) and
``min_progress`` (the progress the event reports is at least this, an unknown progress counting as
0; an event of a finished job always passes, so a subscriber never misses an outcome).

Per-job ordering: the deliveries of one (subscription, job) pair form a chain. Only the chain's
head is due (``next_attempt_at`` set); the rest wait with ``next_attempt_at`` = None and are
promoted one at a time when the head is delivered or dead. A paused subscription's deliveries
are all held; resuming it makes the head of each chain due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from hookline.ids import new_id
from hookline.models import TERMINAL, Event, Job, Subscription

FILTER_KEYS = ("provider", "correlation_key", "correlation_key_prefix", "metadata", "status", "min_progress")
STATE_KEYS = ("status", "min_progress")  # filters on the job's state as the event reports it


def matches(sub: Subscription, job: Job, event_type: str, event: Event | None = None) -> bool:
    """True when ``sub`` should receive an event of ``event_type`` about ``job``. ``event`` gives
    the job's state as that event reports it (for ``status`` and ``min_progress``); without it,
    the job's current state counts."""
    if not sub.enabled:
        return False
    if sub.job_id is not None and sub.job_id != job.id:
        return False
    if sub.event_types and event_type not in sub.event_types:
        return False
    flt = sub.filter
    if not flt:
        return True  # most subscriptions filter nothing: this runs per event and subscription
    if not filter_matches(flt, job):
        return False
    if "status" in flt or "min_progress" in flt:  # STATE_KEYS
        status, progress = event_state(event) if event is not None else (job.status, job.progress)
        return state_matches(flt, status, progress)
    return True


def event_state(event: Event) -> tuple[str, int | None]:
    """The job's status and progress as ``event`` reports them (an event of a batch may be older
    than the job's state at the end of the batch)."""
    data = orjson.loads(event.head or event.payload).get("data") or {}
    return str(data.get("status")), data.get("progress")


def state_matches(flt: dict[str, Any], status: str, progress: int | None) -> bool:
    statuses = flt.get("status")
    if statuses is not None and status not in statuses:
        return False
    least = flt.get("min_progress")
    if least is not None and status not in TERMINAL and (progress or 0) < least:
        return False
    return True


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

    @classmethod
    def of(cls, event: Event, sub: Subscription, next_attempt_at: float | None, now: float) -> NewDelivery:
        return cls(new_id("dlv"), event.id, sub.id, event.job_id, event.type, event.sequence, next_attempt_at, now)


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
            if not matches(sub, job, event.type, event):
                continue
            chain = (sub.id, job.id)
            waiting = chain in open_chains
            open_chains.add(chain)
            # Held: behind the chain's head, or until a paused subscription is resumed.
            planned.append(NewDelivery.of(event, sub, None if waiting or sub.paused else now, now))
    return planned


def plan_notices(notices: list[tuple[Event, str]], subscriptions: SubscriptionSet) -> list[NewDelivery]:
    """One delivery of each operational event to every subscription that names its type in
    ``event_types``, but the one the event is about (see ``hookline.operational``)."""
    return [
        NewDelivery.of(event, sub, None if sub.paused else event.created_at, event.created_at)
        for event, subject in notices
        for sub in subscriptions.general
        if sub.id != subject and sub.event_types and event.type in sub.event_types
    ]
