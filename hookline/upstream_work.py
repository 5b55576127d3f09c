"""hookline's own upstream work, as the store keeps it and the workers take it: blend submissions
waiting to be sent (or sent), the reconciler's poll leases, and the archive of result images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hookline.clock import isoformat
from hookline.models import Job

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
