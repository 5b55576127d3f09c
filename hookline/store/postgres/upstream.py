"""The PostgreSQL transactions of the upstream work queues (submissions, polls, archives).

Like ``writes``: each function runs inside a transaction the store opened and must not commit.
Unlike on SQLite, several processes claim at once: submissions are claimed one claim at a time
(a transaction-level advisory lock, since the per-channel count and the lease must agree), poll
leases are won row by row by a conditional upsert, archives are claimed with SKIP LOCKED. Locks
follow the backend's order: a job's row before anything that hangs off it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hookline.models import CallbackResult, Event, Inbound, Job
from hookline.store import rows
from hookline.store.base import NewJob
from hookline.store.postgres import upstream_sql as sql
from hookline.store.postgres.writes import Writes
from hookline.store.work import (
    ArchiveClaim,
    ArchivedImage,
    ArchiveState,
    NewSubmission,
    PollClaim,
    Submission,
    SubmissionClaim,
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- submissions ----------------------------------------------------------------------------------
async def register_submission(w: Writes, new: NewJob, submission: NewSubmission, job: Job) -> Job:
    await w.register_job(new, job)
    await w.conn.execute(
        sql.INSERT_SUBMISSION,
        submission.job_id,
        submission.provider,
        submission.channel,
        _json(submission.request),
        job.created_at,
    )
    return job


async def claim_submissions(
    w: Writes, owner: str, limit: int, now: float, lease: float, channel_limit: int
) -> list[SubmissionClaim]:
    conn = w.conn
    await conn.execute("SELECT pg_advisory_xact_lock($1)", sql.SUBMISSION_CLAIM_LOCK)
    running: dict[str, int] = {channel: count for channel, count in await conn.fetch(sql.RUNNING_PER_CHANNEL, now)}
    saturated = [channel for channel, count in running.items() if count >= channel_limit]
    chosen: list[SubmissionClaim] = []
    for job_id, provider, channel, request, attempts, created_at in await conn.fetch(
        sql.DUE_SUBMISSIONS, now, saturated, limit * 4
    ):
        if channel is not None:
            if running.get(channel, 0) >= channel_limit:
                continue
            running[channel] = running.get(channel, 0) + 1
        chosen.append(SubmissionClaim(job_id, provider, channel, orjson.loads(request), attempts, created_at))
        if len(chosen) >= limit:
            break
    if chosen:
        await conn.execute(sql.LEASE_SUBMISSIONS, now + lease, owner, now, [c.job_id for c in chosen])
    return chosen


async def hold_submission(w: Writes, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
    await w.conn.execute(sql.HOLD_SUBMISSION, next_attempt_at, error.replace("\x00", "\ufffd"), now, job_id, owner)


async def finish_submission(w: Writes, job_id: str, inbound: Inbound, sent: bool, now: float) -> CallbackResult:
    (result,) = await w.ingest([inbound], now)
    error = None if sent or inbound.snapshot is None else inbound.snapshot.error
    await w.conn.execute(
        sql.FINISH_SUBMISSION,
        "sent" if sent else "refused",
        None if error is None else error.replace("\x00", "\ufffd"),
        now,
        inbound.received_at if sent else None,
        job_id,
    )
    return result


def submission(row: Sequence[Any]) -> Submission:
    return Submission(*row)


# --- polls ----------------------------------------------------------------------------------------
async def claim_polls(
    w: Writes, owner: str, limit: int, now: float, lease: float, providers: list[str], quiet_for: float
) -> list[PollClaim]:
    conn = w.conn
    candidates = [
        PollClaim(rows.job(row[:-1]), row[-1])
        for row in await conn.fetch(sql.POLL_CANDIDATES, providers, now - quiet_for, now, limit)
    ]
    if not candidates:
        return []
    won = {
        r[0]
        for r in await conn.fetch(
            sql.LEASE_POLLS, now, now + quiet_for, now + lease, owner, [c.job.id for c in candidates]
        )
    }
    return [c for c in candidates if c.job.id in won]


async def release_polls(w: Writes, owner: str, job_ids: list[str]) -> None:
    await w.conn.execute(sql.RELEASE_POLLS, owner, job_ids)


# --- archives -------------------------------------------------------------------------------------
async def claim_archives(w: Writes, owner: str, limit: int, now: float, lease: float) -> list[ArchiveClaim]:
    found = await w.conn.fetch(sql.CLAIM_ARCHIVES, now, limit, now + lease, owner)
    return [
        ArchiveClaim(job_id, orjson.loads(urls), _images(images), attempts)
        for job_id, urls, images, attempts in sorted(found)
    ]


async def complete_archive(w: Writes, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
    conn = w.conn
    row = await conn.fetchrow(sql.LOCK_JOB_WITH_UPSTREAM, job_id)  # the job first: the lock order
    if row is None or await conn.fetchval(sql.ARCHIVE_LEASED_BY, job_id, owner) is None:
        return None
    archived = [i.to_api() for i in images]
    job, event = rows.archived_job_event(row, archived, now)
    await conn.execute(sql.JOB_SEQUENCE, job.sequence, now, job.id)
    await w.add_events([event], {job.id: job}, now)
    await conn.execute(sql.COMPLETE_ARCHIVE, _json(archived), now, job_id)
    return event


async def fail_archive(
    w: Writes,
    job_id: str,
    owner: str,
    error: str,
    archived: list[ArchivedImage],
    retry_at: float | None,
    now: float,
) -> None:
    await w.conn.execute(
        sql.FAIL_ARCHIVE,
        retry_at,
        error.replace("\x00", "\ufffd"),
        _json([i.to_api() for i in archived]),
        now,
        job_id,
        owner,
    )


def archive_state(row: Sequence[Any]) -> ArchiveState:
    job_id, state, attempts, next_attempt_at, last_error, images, created_at, updated_at = row
    return ArchiveState(job_id, state, attempts, next_attempt_at, last_error, _images(images), created_at, updated_at)


def _images(raw: Any) -> list[ArchivedImage]:
    return [ArchivedImage.from_api(doc) for doc in orjson.loads(raw)]
