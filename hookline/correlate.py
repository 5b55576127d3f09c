"""Correlation: which job a callback belongs to, and the plan of writes for a batch of callbacks.

A job is identified by (provider, upstream task id). A callback whose task id is unknown is matched
by its correlation key (mjproxy ``state``, useapi ``replyRef``): first as a hookline job id (hookline
sets ``state``/``replyRef`` to the job id when it submits), then to the oldest job registered with
that key that has no upstream id yet, which is then bound to it. Otherwise the callback creates the
job. The store loads the candidate jobs (:func:`lookup_keys`), calls :func:`plan_ingest` inside its
transaction, and writes what the plan says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hookline import statemachine
from hookline.events import build_event
from hookline.ids import new_id
from hookline.models import CallbackRecord, CallbackResult, Event, Inbound, Job, Snapshot

REJECTED_BODY_CAP = 64 * 1024


@dataclass(slots=True)
class LookupKeys:
    """What the store must load before planning: jobs by upstream id, and by correlation key
    (either as a job id or as an unbound registered job's key)."""

    upstream_ids: set[tuple[str, str]] = field(default_factory=set)
    keys: set[tuple[str, str]] = field(default_factory=set)


def lookup_keys(items: Iterable[Inbound]) -> LookupKeys:
    found = LookupKeys()
    for item in items:
        snap = item.snapshot
        if snap is None:
            continue
        if snap.upstream_id is not None:
            found.upstream_ids.add((item.provider, snap.upstream_id))
        if snap.correlation_key is not None:
            found.keys.add((item.provider, snap.correlation_key))
    return found


class JobIndex:
    """The loaded jobs, indexed the three ways correlation looks them up."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.by_id: dict[str, Job] = {}
        self.by_upstream: dict[tuple[str, str], Job] = {}
        self.unbound: dict[tuple[str, str], list[Job]] = {}
        for job in sorted(jobs, key=lambda j: (j.created_at, j.id)):
            self.add(job)

    def add(self, job: Job) -> None:
        self.by_id[job.id] = job
        if job.upstream_id is not None:
            self.by_upstream[(job.provider, job.upstream_id)] = job
        elif job.correlation_key is not None:
            self.unbound.setdefault((job.provider, job.correlation_key), []).append(job)

    def bind(self, job: Job) -> None:
        """``job`` just got its upstream id: move it from the unbound list to the upstream index."""
        if job.correlation_key is not None:
            waiting = self.unbound.get((job.provider, job.correlation_key), [])
            if job in waiting:
                waiting.remove(job)
        if job.upstream_id is not None:
            self.by_upstream[(job.provider, job.upstream_id)] = job

    def find(self, provider: str, snap: Snapshot) -> Job | None:
        if snap.upstream_id is not None:
            job = self.by_upstream.get((provider, snap.upstream_id))
            if job is not None:
                return job
        key = snap.correlation_key
        if key is None:
            return None
        job = self.by_id.get(key)
        if job is not None and job.provider == provider:
            return job
        waiting = self.unbound.get((provider, key))
        return waiting[0] if waiting else None


@dataclass(slots=True)
class IngestPlan:
    results: list[CallbackResult]
    callbacks: list[CallbackRecord]
    events: list[Event]
    created: dict[str, Job]  # new jobs, by id
    changed: dict[str, Job]  # existing jobs that changed (state, binding or last_seen_at), by id


def plan_ingest(
    items: list[Inbound],
    index: JobIndex,
    now: float,
    *,
    job_id_factory: Callable[[], str] = lambda: new_id("job"),
) -> IngestPlan:
    """Correlate each callback, run it through the state machine, and return every write to make.
    Items are applied in order; a later item sees the effect of an earlier one on the same job."""
    plan = IngestPlan(results=[], callbacks=[], events=[], created={}, changed={})
    for item in items:
        callback_id = new_id("cb")
        snap = item.snapshot
        if snap is None:
            plan.callbacks.append(_record(callback_id, None, item, "rejected", item.body[:REJECTED_BODY_CAP]))
            plan.results.append(CallbackResult(callback_id, None, "rejected"))
            continue
        job = index.find(item.provider, snap)
        if job is None:
            job = Job.new(
                job_id_factory(),
                item.provider,
                now,
                origin="callback",
                upstream_id=snap.upstream_id,
                correlation_key=snap.correlation_key,
                action=snap.action,
            )
            index.add(job)
            plan.created[job.id] = job
        elif job.id not in plan.created:
            plan.changed[job.id] = job
        if job.upstream_id is None and snap.upstream_id is not None:
            job.upstream_id = snap.upstream_id
            index.bind(job)
        job.last_seen_at = max(job.last_seen_at or 0.0, item.received_at)
        outcome = statemachine.judge(job, snap)
        result = CallbackResult(callback_id, job.id, outcome)
        if outcome == "applied":
            event_type = statemachine.apply(job, snap, now, callback_id)
            event = build_event(job, event_type, now, upstream=item.body, callback_id=callback_id)
            plan.events.append(event)
            result.event_ids.append(event.id)
            result.event_types.append(event.type)
        plan.callbacks.append(_record(callback_id, job.id, item, outcome, item.body))
        plan.results.append(result)
    return plan


def _record(callback_id: str, job_id: str | None, item: Inbound, outcome: str, body: bytes) -> CallbackRecord:
    return CallbackRecord(
        id=callback_id,
        job_id=job_id,
        provider=item.provider,
        source=item.source,
        outcome=outcome,
        received_at=item.received_at,
        headers=item.headers,
        body=body,
        error=item.reject_reason or item.note,
    )
