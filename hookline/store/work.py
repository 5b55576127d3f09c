"""hookline's own upstream work, as the store keeps it: blend submissions waiting to be sent (or
sent), the reconciler's poll leases, and the archive of result images — their data, and their
write units (see ``driver``).

Each is a small work queue keyed by job id, claimed with a lease (``lease_until``/``lease_owner``)
so that several processes sharing a PostgreSQL database never do the same piece of work at once:
submissions are claimed one claim at a time (a transaction lock, since the per-channel count and
the lease must agree), poll leases are won row by row by a conditional upsert, archives are
claimed with SKIP LOCKED. Locks follow ``receiving``'s order: a job's row before anything that
hangs off it. On SQLite's one writer, claims cannot interleave at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hookline.clock import isoformat
from hookline.events import build_event
from hookline.models import CallbackResult, Event, Inbound, Job
from hookline.store import receiving, rows
from hookline.store.base import NewJob
from hookline.store.driver import Row, Tx

SUBMISSION_STATES = ("pending", "sent", "refused")
ARCHIVE_STATES = ("pending", "archived", "failed")


@dataclass(slots=True)
class NewSubmission:
    """A blend to send upstream for the job ``job_id`` (the job is created with it).

    ``request`` is what ``POST /v1/blend`` accepted, already prepared for the provider
    (``{"images": [...], "dimensions": ..., "bot_type": ...}``; mjproxy images are data URIs). It
    holds no secret: tokens and the callback URL are added when the request is sent. ``channel``
    names the useapi channel whose ``maxJobs`` bounds it; None means no bound (mjproxy).
    """

    job_id: str
    provider: str
    request: dict[str, Any]
    channel: str | None = None


@dataclass(slots=True)
class Submission:
    """A submission's state, as ``GET /v1/jobs/{id}`` shows it (without the request itself).

    ``pending``: waiting to be sent (``next_attempt_at``), held for a full upstream queue when
    ``attempts`` > 0; ``sent``: the upstream accepted it (the job has its upstream id);
    ``refused``: the upstream refused it (the job failed or was moderated with its message)."""

    job_id: str
    provider: str
    channel: str | None
    state: str
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    sent_at: float | None

    def to_api(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "channel": self.channel,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": isoformat(self.next_attempt_at),
            "last_error": self.last_error,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "sent_at": isoformat(self.sent_at),
        }


@dataclass(slots=True)
class SubmissionClaim:
    """A submission leased to one worker: everything needed to send it."""

    job_id: str
    provider: str
    channel: str | None
    request: dict[str, Any]
    attempts: int  # attempts made before this one
    created_at: float


@dataclass(slots=True)
class PollClaim:
    """A job leased to one reconciler. ``watched_since`` is when the upstream got the job (the
    submission's ``sent_at``) or, for a job hookline did not submit, when hookline created it:
    the job timeout counts from there."""

    job: Job
    watched_since: float


@dataclass(slots=True)
class ArchivedImage:
    """One result image kept in the archive (the ``archived_images`` items of ``job.archived``)."""

    source_url: str
    url: str
    sha256: str
    content_type: str
    bytes: int

    def to_api(self) -> dict[str, Any]:
        return {
            "source_url": self.source_url,
            "url": self.url,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "bytes": self.bytes,
        }

    @classmethod
    def from_api(cls, doc: dict[str, Any]) -> ArchivedImage:
        return cls(doc["source_url"], doc["url"], doc["sha256"], doc["content_type"], int(doc["bytes"]))


@dataclass(slots=True)
class ArchiveClaim:
    """A succeeded job's archiving leased to one archiver: the result images to keep, those
    already kept by an earlier attempt, and how many attempts came before."""

    job_id: str
    image_urls: list[str]
    archived: list[ArchivedImage]
    attempts: int


@dataclass(slots=True)
class ArchiveState:
    """A job's archive, as ``GET /v1/jobs/{id}`` shows it. ``pending`` (with ``next_attempt_at``
    and, after a failure, ``last_error``), ``archived``, or ``failed`` once the retries ran out."""

    job_id: str
    state: str
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    images: list[ArchivedImage]
    created_at: float
    updated_at: float

    def to_api(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": isoformat(self.next_attempt_at),
            "last_error": self.last_error,
            "images": [i.to_api() for i in self.images],
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


def _images(raw: Any) -> list[ArchivedImage]:
    return [ArchivedImage.from_api(doc) for doc in orjson.loads(raw)]


def archive_state(row: Row) -> ArchiveState:
    state: ArchiveState = rows.model(ArchiveState, row, images=_images(row["images"]))
    return state


def submission(row: Row) -> Submission:
    found: Submission = rows.model(Submission, row)
    return found


# --- submissions ----------------------------------------------------------------------------------
async def register_submission(tx: Tx, new: NewJob, submission: NewSubmission, job: Job) -> Job:
    await receiving.register_job(tx, new, job)
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
    await tx.execute(
        "hold_submission", next_attempt_at=next_attempt_at, error=error, now=now, job_id=job_id, owner=owner
    )


async def finish_submission(tx: Tx, job_id: str, inbound: Inbound, sent: bool, now: float) -> CallbackResult:
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
    found = await tx.fetch("claim_archives", now=now, limit=limit, lease_until=now + lease, owner=owner)
    return [
        ArchiveClaim(r["job_id"], orjson.loads(r["image_urls"]), _images(r["images"]), r["attempts"])
        for r in sorted(found, key=lambda r: str(r["job_id"]))
    ]


async def complete_archive(tx: Tx, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
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
