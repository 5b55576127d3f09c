"""The job state machine: pure functions, no I/O.

Statuses are ordered ``queued < submitted < in_progress (by progress) < terminal``. A job never
moves backwards: a snapshot that ranks above the job's state is ``applied``; one that ranks at or
below it is ``duplicate`` when it says the same thing (same status, progress, images and error)
and ``stale`` otherwise. Once terminal, the first terminal status wins; a different terminal
status arriving later is a ``conflict`` (recorded, not applied). A job that has never seen a
snapshot (registered or just created) applies the first one it gets.

hookline's own verdicts are soft. A job hookline failed itself (its job timeout: error
``"timeout"``; an upstream that no longer knows the job: ``"lost upstream"``, see
:func:`own_verdict`) takes a later real terminal snapshot from the upstream: outcome ``applied``
and a new event. Upstream terminals stay first-wins among themselves, and an own verdict never
replaces an upstream terminal.

Because every applied snapshot ranks strictly above the previous one (an upstream terminal ranks
above an own verdict), and snapshots of equal rank carry equal normalized content, any order and
any repetition of one job's callbacks, polls and timeouts ends in the same job state — provided
the upstream itself says only one terminal thing.
"""

from __future__ import annotations

from typing import Any

from hookline.models import TERMINAL, Job, Snapshot

# The errors hookline writes when it fails a job itself: its verdicts, which the upstream may overrule.
TIMEOUT = "timeout"
LOST_UPSTREAM = "lost upstream"
OWN_ERRORS = frozenset({TIMEOUT, LOST_UPSTREAM})

_BASE_RANK = {"queued": 0.0, "submitted": 1.0, "in_progress": 2.0}

EVENT_TYPE = {
    "queued": "job.submitted",
    "submitted": "job.submitted",
    "in_progress": "job.progress",
    "succeeded": "job.succeeded",
    "failed": "job.failed",
    "moderated": "job.moderated",
    "cancelled": "job.cancelled",
}


def rank(status: str, progress: int | None) -> float:
    """Where a status sits in the order; in_progress is ranked by its percentage."""
    if status in TERMINAL:
        return 3.0
    if status == "in_progress":
        return 2.0 + (progress or 0) / 1000.0
    return _BASE_RANK[status]


def _same_content(job: Job, snap: Snapshot) -> bool:
    return (
        job.status == snap.status
        and job.progress == snap.progress
        and tuple(job.image_urls) == snap.image_urls
        and job.error == snap.error
    )


def is_own_verdict(status: str, error: str | None) -> bool:
    """True for a terminal state hookline decided itself (see :func:`own_verdict`)."""
    return status == "failed" and error in OWN_ERRORS


def own_verdict(
    upstream_id: str | None, correlation_key: str | None, error: str, raw: Any, action: str | None = None
) -> Snapshot:
    """The snapshot of hookline failing a job itself, with ``error`` one of :data:`OWN_ERRORS`
    (``raw`` is what the job's subscribers get as ``data.upstream``: the upstream's last word)."""
    if error not in OWN_ERRORS:
        raise ValueError(f"not one of hookline's own verdicts: {error!r}")
    return Snapshot(upstream_id, correlation_key, "failed", None, error=error, action=action, raw=raw)


def judge(job: Job, snap: Snapshot) -> str:
    """The outcome of ``snap`` for ``job``: applied, duplicate, stale or conflict."""
    if job.upstream_callback_id is None:
        return "applied"
    if (
        job.terminal
        and is_own_verdict(job.status, job.error)
        and snap.status in TERMINAL
        and not is_own_verdict(snap.status, snap.error)
    ):
        return "applied"  # the upstream's real end overrules hookline's guess
    if job.terminal:
        if snap.status in TERMINAL and snap.status != job.status:
            return "conflict"
        return "duplicate" if _same_content(job, snap) else "stale"
    if rank(snap.status, snap.progress) > rank(job.status, job.progress):
        return "applied"
    return "duplicate" if _same_content(job, snap) else "stale"


def apply(job: Job, snap: Snapshot, now: float, callback_id: str) -> str:
    """Move ``job`` to the state ``snap`` (carried by callback ``callback_id``) describes; call only
    when :func:`judge` said applied. Returns the type of the event this change emits and advances
    ``job.sequence``."""
    job.status = snap.status
    job.progress = snap.progress
    job.image_urls = list(snap.image_urls)
    job.error = snap.error
    if snap.action:
        job.action = snap.action
    if job.upstream_id is None and snap.upstream_id is not None:
        job.upstream_id = snap.upstream_id
    if job.correlation_key is None and snap.correlation_key is not None:
        job.correlation_key = snap.correlation_key
    job.upstream = snap.raw
    job.upstream_callback_id = callback_id
    job.updated_at = now
    job.sequence += 1
    return EVENT_TYPE[snap.status]
