"""The SQLite write transactions of the upstream work queues (submissions, polls, archives).

Like ``writes.py``: each function runs inside the writer's open transaction and must not commit.
One process owns a SQLite file and its single writer runs these one after another, so a claim's
"read, then lease" cannot interleave with another claim.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from hookline.models import CallbackResult, Event, Inbound, Job
from hookline.store import rows
from hookline.store.base import NewJob
from hookline.store.sqlite import sql as core_sql
from hookline.store.sqlite import upstream_sql as sql
from hookline.store.work import (
    ArchiveClaim,
    ArchivedImage,
    ArchiveState,
    NewSubmission,
    PollClaim,
    Submission,
    SubmissionClaim,
)

if TYPE_CHECKING:
    from hookline.store.sqlite.writes import Writes


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- submissions ----------------------------------------------------------------------------------
def register_submission(w: Writes, new: NewJob, submission: NewSubmission, job: Job) -> Job:
    w.register_job(new, job)
    w.conn.execute(
        sql.INSERT_SUBMISSION,
        (
            submission.job_id,
            submission.provider,
            submission.channel,
            _json(submission.request),
            job.created_at,
            job.created_at,
            job.created_at,
        ),
    )
    return job


def claim_submissions(
    w: Writes, owner: str, limit: int, now: float, lease: float, channel_limit: int
) -> list[SubmissionClaim]:
    conn = w.conn
    running: dict[str, int] = dict(conn.execute(sql.RUNNING_PER_CHANNEL, (now,)).fetchall())
    saturated = [channel for channel, count in running.items() if count >= channel_limit]
    chosen: list[SubmissionClaim] = []
    for job_id, provider, channel, request, attempts, created_at in conn.execute(
        sql.DUE_SUBMISSIONS, (now, now, _json(saturated), limit * 4)
    ):
        if channel is not None:
            if running.get(channel, 0) >= channel_limit:
                continue
            running[channel] = running.get(channel, 0) + 1
        chosen.append(SubmissionClaim(job_id, provider, channel, orjson.loads(request), attempts, created_at))
        if len(chosen) >= limit:
            break
    if chosen:
        conn.execute(sql.LEASE_SUBMISSIONS, (now + lease, owner, now, _json([c.job_id for c in chosen])))
    return chosen


def hold_submission(w: Writes, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
    w.conn.execute(sql.HOLD_SUBMISSION, (next_attempt_at, error, now, job_id, owner))


def finish_submission(w: Writes, job_id: str, inbound: Inbound, sent: bool, now: float) -> CallbackResult:
    (result,) = w.ingest([inbound], now)
    error = None if sent or inbound.snapshot is None else inbound.snapshot.error
    w.conn.execute(
        sql.FINISH_SUBMISSION,
        ("sent" if sent else "refused", error, now, inbound.received_at if sent else None, job_id),
    )
    return result


def submission(row: Sequence[Any]) -> Submission:
    return Submission(*row)


# --- polls ----------------------------------------------------------------------------------------
def claim_polls(
    w: Writes, owner: str, limit: int, now: float, lease: float, providers: list[str], quiet_for: float
) -> list[PollClaim]:
    conn = w.conn
    found = [
        PollClaim(rows.job(row[:-1]), row[-1])
        for row in conn.execute(sql.POLL_CANDIDATES, (_json(providers), now - quiet_for, now, limit))
    ]
    if found:
        conn.executemany(sql.LEASE_POLL, [(c.job.id, now + quiet_for, now + lease, owner, now) for c in found])
    return found


def release_polls(w: Writes, owner: str, job_ids: list[str]) -> None:
    w.conn.execute(sql.RELEASE_POLLS, (owner, _json(job_ids)))


# --- archives -------------------------------------------------------------------------------------
def queue_archives(conn: sqlite3.Connection, events: list[Event], jobs: dict[str, Job], now: float) -> None:
    """Queue for the archive every job these events made ``succeeded`` with images to keep."""
    queued = [
        (e.job_id, now, now, now)
        for e in events
        if e.type == "job.succeeded" and jobs.get(e.job_id) is not None and jobs[e.job_id].image_urls
    ]
    if queued:
        conn.executemany(sql.QUEUE_ARCHIVE, queued)


def claim_archives(w: Writes, owner: str, limit: int, now: float, lease: float) -> list[ArchiveClaim]:
    conn = w.conn
    found = [
        ArchiveClaim(job_id, orjson.loads(urls), _images(images), attempts)
        for job_id, urls, images, attempts in conn.execute(sql.DUE_ARCHIVES, (now, now, limit))
    ]
    if found:
        conn.execute(sql.LEASE_ARCHIVES, (now + lease, owner, now, _json([c.job_id for c in found])))
    return found


def complete_archive(w: Writes, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
    conn = w.conn
    if conn.execute(sql.ARCHIVE_LEASED_BY, (job_id, owner)).fetchone() is None:
        return None
    row = conn.execute(core_sql.GET_JOB, (job_id,)).fetchone()
    if row is None:
        return None
    archived = [i.to_api() for i in images]
    job, event = rows.archived_job_event(row, archived, now)  # GET_JOB ends with the upstream body
    conn.execute(sql.JOB_SEQUENCE, (job.sequence, now, job.id))
    w.add_events([event], {job.id: job}, now)
    conn.execute(sql.COMPLETE_ARCHIVE, (_json(archived), now, job_id))
    return event


def fail_archive(
    w: Writes,
    job_id: str,
    owner: str,
    error: str,
    archived: list[ArchivedImage],
    retry_at: float | None,
    now: float,
) -> None:
    w.conn.execute(sql.FAIL_ARCHIVE, (retry_at, error, _json([i.to_api() for i in archived]), now, job_id, owner))


def archive_state(row: Sequence[Any]) -> ArchiveState:
    job_id, state, attempts, next_attempt_at, last_error, images, created_at, updated_at = row
    return ArchiveState(job_id, state, attempts, next_attempt_at, last_error, _images(images), created_at, updated_at)


def _images(raw: Any) -> list[ArchivedImage]:
    return [ArchivedImage.from_api(doc) for doc in orjson.loads(raw)]
