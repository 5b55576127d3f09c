"""hookline's own upstream work (``hookline.upstream_work``) as write units (see ``driver``):
blend submissions, the reconciler's poll leases, the archive of result images.

Each is a work queue keyed by job id, claimed with a lease (``lease_until``/``lease_owner``) so
that processes sharing a PostgreSQL database never do the same work at once: submissions one
claim at a time (a transaction lock: the per-channel count and the lease must agree), poll leases
row by row (a conditional upsert), archives with SKIP LOCKED. Locks follow ``receiving``'s order.
"""

from __future__ import annotations

from typing import Any

import orjson

from hookline.changes import NewJob
from hookline.events import build_event
from hookline.models import CallbackResult, Event, Inbound, Job
from hookline.store import receiving, rows
from hookline.store.driver import Row, Tx
from hookline.upstream_work import (
    ArchiveClaim,
    ArchivedImage,
    ArchiveState,
    NewSubmission,
    PollClaim,
    Submission,
    SubmissionClaim,
)


def _images(raw: Any) -> list[ArchivedImage]:
    return [ArchivedImage.from_api(doc) for doc in orjson.loads(raw)]


def archive_state(row: Row) -> ArchiveState:
    return rows.model(ArchiveState, row, images=_images(row["images"]))


def submission(row: Row) -> Submission:
    return rows.model(Submission, row)


# --- submissions ----------------------------------------------------------------------------------
async def register_submission(tx: Tx, new: NewJob, submission: NewSubmission, now: float) -> Job:
    """Create the job ``submission.job_id`` (from ``new``, with its one-off subscription) and its
    submission, ``pending`` and due now."""
    job = await receiving.register_job(tx, new, now, submission.job_id)
    await tx.execute(
        "insert_submission",
        job_id=submission.job_id,
        provider=submission.provider,
        channel=submission.channel,
        request=rows.dumps(submission.request),
        now=job.created_at,
    )
    return job


async def claim_submissions(
    tx: Tx, owner: str, limit: int, now: float, lease: float, channel_limit: int
) -> list[SubmissionClaim]:
    """Lease up to ``limit`` due pending submissions of non-terminal jobs to ``owner`` (oldest
    due first) and count an attempt for each. A submission with a ``channel`` is claimed only
    while fewer than ``channel_limit`` jobs of that channel run: a job runs from the claim of
    its submission until the job is terminal (sent and not terminal, or leased right now)."""
    await tx.lock("lock_submission_claims")
    running: dict[str, int] = {r["channel"]: r["running"] for r in await tx.fetch("running_per_channel", now=now)}
    saturated = [channel for channel, count in running.items() if count >= channel_limit]
    chosen: list[SubmissionClaim] = []
    for r in await tx.fetch("due_submissions", now=now, saturated=saturated, limit=limit * 4):
        channel = r["channel"]
        if channel is not None:
            if running.get(channel, 0) >= channel_limit:
                continue
            running[channel] = running.get(channel, 0) + 1
        request = orjson.loads(r["request"])
        chosen.append(SubmissionClaim(r["job_id"], r["provider"], channel, request, r["attempts"], r["created_at"]))
        if len(chosen) >= limit:
            break
    if chosen:
        job_ids = [c.job_id for c in chosen]
        await tx.execute("lease_submissions", lease_until=now + lease, owner=owner, now=now, job_ids=job_ids)
    return chosen


async def hold_submission(tx: Tx, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
    """Put a claimed submission back in the queue, due at ``next_attempt_at``, noting why
    (the upstream's queue was full, or it could not be reached). Ignored unless ``owner``
    holds the lease."""
    await tx.execute(
        "hold_submission", next_attempt_at=next_attempt_at, error=error, now=now, job_id=job_id, owner=owner
    )


async def finish_submission(tx: Tx, job_id: str, inbound: Inbound, sent: bool, now: float) -> CallbackResult:
    """Apply the upstream's answer to a submission (``inbound``: source ``submit``, its
    snapshot carrying the job id as correlation key) exactly as ``record_callback`` does, and
    mark the submission ``sent`` (``sent_at`` = the answer's time) or ``refused`` (with the
    snapshot's error) — all in one transaction. Applies even if the lease was lost: the
    upstream's answer is a fact."""
    (result,) = await receiving.ingest(tx, [inbound], now)
    error = None if sent or inbound.snapshot is None else inbound.snapshot.error
    await tx.execute(
        "finish_submission",
        state="sent" if sent else "refused",
        error=error,
        now=now,
        sent_at=inbound.received_at if sent else None,
        job_id=job_id,
    )
    return result


# --- polls ----------------------------------------------------------------------------------------
async def claim_polls(
    tx: Tx, owner: str, limit: int, now: float, lease: float, providers: list[str], quiet_for: float
) -> list[PollClaim]:
    """Lease to ``owner`` up to ``limit`` non-terminal jobs of ``providers`` that have been
    quiet (no callback or poll: ``last_seen_at``, else ``created_at``) since ``now - quiet_for``,
    quietest first. Jobs whose submission is still in hookline's queue are not the upstream's
    yet and are skipped. A claimed job is not offered again before ``now + quiet_for``, nor
    while its lease (``now + lease``) lasts."""
    found = await tx.fetch("poll_candidates", providers=providers, quiet_since=now - quiet_for, now=now, limit=limit)
    if not found:
        return []
    candidates = [PollClaim(rows.job(r), r["watched_since"]) for r in found]
    won = await tx.fetch(
        "lease_polls",
        now=now,
        next_poll_at=now + quiet_for,
        lease_until=now + lease,
        owner=owner,
        job_ids=[c.job.id for c in candidates],
    )
    ids = {r["job_id"] for r in won}
    return [c for c in candidates if c.job.id in ids]


async def release_polls(tx: Tx, owner: str, job_ids: list[str]) -> None:
    await tx.execute("release_polls", owner=owner, job_ids=job_ids)


# --- archives -------------------------------------------------------------------------------------
async def claim_archives(tx: Tx, owner: str, limit: int, now: float, lease: float) -> list[ArchiveClaim]:
    """Lease up to ``limit`` due pending archives to ``owner`` and count an attempt for each."""
    found = await tx.fetch("claim_archives", now=now, limit=limit, lease_until=now + lease, owner=owner)
    return [
        ArchiveClaim(r["job_id"], orjson.loads(r["image_urls"]), _images(r["images"]), r["attempts"])
        for r in sorted(found, key=lambda r: str(r["job_id"]))
    ]


async def complete_archive(tx: Tx, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
    """Mark the job's archive ``archived`` and emit ``job.archived`` (the job's next sequence,
    ``data.archived_images`` = ``images``) with its deliveries, in one transaction. Returns
    the event, or None (and changes nothing) when ``owner`` no longer holds the lease."""
    row = await tx.fetch_one("lock_job_with_upstream", id=job_id)  # the job first: the lock order
    if row is None or await tx.fetch_one("archive_leased_by", job_id=job_id, owner=owner) is None:
        return None
    archived = [i.to_api() for i in images]
    job = rows.job(row)
    job.sequence += 1
    job.updated_at = now
    # Like every event, it carries the job's latest upstream snapshot.
    upstream = None if row["upstream"] is None else bytes(row["upstream"])
    event = build_event(
        job,
        "job.archived",
        now,
        upstream=upstream,
        callback_id=job.upstream_callback_id,
        extra={"archived_images": archived},
    )
    await tx.execute("job_sequence", sequence=job.sequence, updated_at=now, id=job.id)
    await receiving.add_events(tx, [event], {job.id: job}, now)
    await tx.execute("complete_archive", images=rows.dumps(archived), now=now, job_id=job_id)
    return event


async def fail_archive(
    tx: Tx, job_id: str, owner: str, error: str, archived: list[ArchivedImage], retry_at: float | None, now: float
) -> None:
    """Record a failed attempt (``error``; the images kept so far): due again at ``retry_at``,
    or ``failed`` for good when it is None. Ignored unless ``owner`` holds the lease."""
    await tx.execute(
        "fail_archive",
        state="failed" if retry_at is None else "pending",
        retry_at=retry_at,
        error=error,
        images=rows.dumps([i.to_api() for i in archived]),
        now=now,
        job_id=job_id,
        owner=owner,
    )
