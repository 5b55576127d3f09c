"""The store: a Protocol of domain methods. Callers never see SQL.

Two backends implement it: ``hookline.store.sqlite`` (aiosqlite readers, one writer connection,
WAL, synchronous FULL; the default) and ``hookline.store.postgres`` (asyncpg, for many processes).
Both group concurrent writes into one transaction (see ``hookline.store.groupcommit``): a method
returns only after its writes are committed, and the writes of one callback (the callback row, the
job change, its events and their deliveries) are committed together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hookline.models import (
    Attempt,
    CallbackRecord,
    CallbackResult,
    Claim,
    Completion,
    Delivery,
    Event,
    Inbound,
    Job,
    Page,
    Subscription,
)
from hookline.store.work import (
    ArchiveClaim,
    ArchivedImage,
    ArchiveState,
    NewSubmission,
    PollClaim,
    Submission,
    SubmissionClaim,
)

MAX_PAGE = 500


def _set_filters(query: Any, *columns: str) -> dict[str, Any]:
    """The equality filters a list query sets: column name → value, for each that is not None."""
    return {column: value for column in columns if (value := getattr(query, column)) is not None}


@dataclass(slots=True)
class JobQuery:
    status: str | None = None
    provider: str | None = None
    correlation_key: str | None = None
    limit: int = 50
    cursor: str | None = None  # the id of the last item of the previous page

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "status", "provider", "correlation_key")


@dataclass(slots=True)
class CallbackQuery:
    outcome: str | None = None
    provider: str | None = None
    limit: int = 50
    cursor: str | None = None

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "outcome", "provider")


@dataclass(slots=True)
class DeliveryQuery:
    status: str | None = None
    subscription_id: str | None = None
    job_id: str | None = None
    limit: int = 50
    cursor: str | None = None

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "status", "subscription_id", "job_id")


@dataclass(slots=True)
class SubscriptionQuery:
    limit: int = 50
    cursor: str | None = None
    job_id: str | None = None

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "job_id")


@dataclass(slots=True)
class EventQuery:
    """The event feed (``GET /v1/events``): events oldest first, after ``after`` (a cursor)."""

    type: str | None = None
    job_id: str | None = None
    limit: int = 50
    after: str | None = None  # the next_cursor of a previous page: ``<position>_<event id>``

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "type", "job_id")

    def position(self) -> tuple[int, str] | None:
        """``after`` split into (position, event id); the API checked its shape (``feed_cursor``)."""
        if self.after is None:
            return None
        position, _, event_id = self.after.partition("_")
        return int(position), event_id


def feed_cursor(position: int, event_id: str) -> str:
    """The feed cursor of the event ``event_id`` at ``position`` in its backend's commit order."""
    return f"{position}_{event_id}"


@dataclass(slots=True)
class NewJob:
    """A job registered before its first callback (``POST /v1/jobs``)."""

    provider: str
    correlation_key: str | None
    upstream_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    subscription: Subscription | None = None  # the one-off subscription made from ``callback_url``
    origin: str = "registered"


@dataclass(slots=True)
class SubscriptionChanges:
    """A PATCH: only the fields named in ``set_fields`` change."""

    url: str | None = None
    event_types: list[str] | None = None
    filter: dict[str, Any] | None = None
    description: str | None = None
    enabled: bool | None = None
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


@dataclass(slots=True)
class Backlog:
    pending: int
    oldest_pending_at: float | None
    dead: int


class Store(Protocol):
    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        """Connect, refuse a schema newer than this code (SchemaTooNew), migrate if asked."""
        ...

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        ...

    async def migrate(self) -> tuple[int, int]:
        """Apply pending migrations; return (version before, version after)."""
        ...

    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""
        ...

    async def ensure_setting(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is stored already; return the stored value."""
        ...

    # dashboard sessions ----------------------------------------------------------------------
    async def revoke_session(self, nonce: str, expires_at: float, now: float) -> None:
        """Remember that the session ``nonce`` logged out (until ``expires_at``, when its cookie
        expires anyway); forget revocations that expired before ``now``."""
        ...

    async def session_revoked(self, nonce: str) -> bool:
        """True when the session ``nonce`` was revoked (by any process sharing this database)."""
        ...

    # receiving -------------------------------------------------------------------------------
    async def record_callback(self, inbound: Inbound) -> CallbackResult:
        """Correlate, apply and persist one callback with its events and deliveries, atomically.
        When the callback makes a job ``succeeded`` with image URLs, the same transaction queues
        the job for the archive (a ``pending`` archive due now; once per job)."""
        ...

    async def register_job(self, new: NewJob, now: float) -> Job:
        """Create a job ahead of its callbacks (with its one-off subscription, if any)."""
        ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def list_jobs(self, query: JobQuery) -> Page[Job]: ...

    async def job_callbacks(self, job_id: str, limit: int = 200) -> list[CallbackRecord]: ...

    async def job_events(self, job_id: str, limit: int = 200) -> list[Event]: ...

    async def list_callbacks(self, query: CallbackQuery) -> Page[CallbackRecord]:
        """The callback log, newest first (rejected callbacks included: they have no job)."""
        ...

    async def list_events(self, query: EventQuery) -> Page[Event]:
        """The event feed, OLDEST first, after ``query.after``. ``next_cursor`` is the cursor of the
        last event returned (``query.after`` again when none is), so a follower never misses an
        event that commits after it read: the order is commit order, and an event of a transaction
        still in flight is held back until that transaction ends (see each backend)."""
        ...

    # subscriptions ---------------------------------------------------------------------------
    async def create_subscription(self, sub: Subscription) -> Subscription: ...

    async def get_subscription(self, sub_id: str) -> Subscription | None: ...

    async def list_subscriptions(self, query: SubscriptionQuery) -> Page[Subscription]: ...

    async def update_subscription(self, sub_id: str, changes: SubscriptionChanges, now: float) -> Subscription:
        """Apply a PATCH. Disabling pauses the subscription's pending deliveries; enabling resumes
        the head of each of its chains. Raises NotFound."""
        ...

    async def delete_subscription(self, sub_id: str) -> None:
        """Delete the subscription with its deliveries and attempts. Raises NotFound."""
        ...

    async def rotate_secret(self, sub_id: str, new_secret: str, now: float, overlap: float) -> Subscription:
        """Make ``new_secret`` current; the previous ones keep signing for ``overlap`` seconds."""
        ...

    async def replay(self, sub_id: str, since: float, until: float | None, now: float) -> int:
        """Queue again, for one subscription, every matching event created in [since, until)."""
        ...

    # deliveries ------------------------------------------------------------------------------
    async def claim_deliveries(
        self, owner: str, limit: int, now: float, lease: float, per_subscription: int
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries to ``owner``, never more than ``per_subscription``
        in flight for one subscription (counting leases other dispatchers hold)."""
        ...

    async def complete_delivery(self, completion: Completion, now: float, disable_after: float) -> str | None:
        """Record an attempt and its consequences (retry, delivered, dead; subscription health;
        promotion of the next delivery in the chain). Ignored, but for the attempt row, if the
        lease was lost to another dispatcher.

        Returns the reason when recording this attempt disabled its subscription (410 Gone, or no
        success for ``disable_after`` seconds), else None. A subscription is reported disabled by
        exactly one call, however many attempts were recorded together, so the dispatcher can
        count disablings honestly."""
        ...

    async def release_deliveries(self, owner: str, delivery_ids: list[str]) -> None:
        """Give leases back unsent (shutdown), so another dispatcher can send them now."""
        ...

    async def wait_for_work(self, timeout: float) -> None:
        """Return when new deliveries may be due, or after ``timeout`` seconds."""
        ...

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]: ...

    async def delivery_attempts(self, delivery_id: str) -> list[Attempt]: ...

    async def retry_delivery(self, delivery_id: str, now: float) -> Delivery:
        """Make a dead (or waiting) delivery due now. Raises NotFound, Conflict."""
        ...

    async def backlog(self, now: float) -> Backlog: ...

    # upstream: submissions ---------------------------------------------------------------------
    async def register_submission(self, new: NewJob, submission: NewSubmission, now: float) -> Job:
        """Create the job ``submission.job_id`` (from ``new``, with its one-off subscription) and
        its submission, ``pending`` and due now, in one transaction."""
        ...

    async def claim_submissions(
        self, owner: str, limit: int, now: float, lease: float, channel_limit: int
    ) -> list[SubmissionClaim]:
        """Lease up to ``limit`` due pending submissions of non-terminal jobs to ``owner`` (oldest
        due first) and count an attempt for each. A submission with a ``channel`` is claimed only
        while fewer than ``channel_limit`` jobs of that channel run: a job runs from the claim of
        its submission until the job is terminal (sent and not terminal, or leased right now)."""
        ...

    async def hold_submission(self, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
        """Put a claimed submission back in the queue, due at ``next_attempt_at``, noting why
        (the upstream's queue was full, or it could not be reached). Ignored unless ``owner``
        holds the lease."""
        ...

    async def finish_submission(self, job_id: str, inbound: Inbound, sent: bool) -> CallbackResult:
        """Apply the upstream's answer to a submission (``inbound``: source ``submit``, its
        snapshot carrying the job id as correlation key) exactly as ``record_callback`` does, and
        mark the submission ``sent`` (``sent_at`` = the answer's time) or ``refused`` (with the
        snapshot's error) — all in one transaction. Applies even if the lease was lost: the
        upstream's answer is a fact."""
        ...

    async def get_submission(self, job_id: str) -> Submission | None: ...

    # upstream: reconciler --------------------------------------------------------------------
    async def claim_polls(
        self, owner: str, limit: int, now: float, lease: float, providers: list[str], quiet_for: float
    ) -> list[PollClaim]:
        """Lease to ``owner`` up to ``limit`` non-terminal jobs of ``providers`` that have been
        quiet (no callback or poll: ``last_seen_at``, else ``created_at``) since ``now - quiet_for``,
        quietest first. Jobs whose submission is still in hookline's queue are not the upstream's
        yet and are skipped. A claimed job is not offered again before ``now + quiet_for``, nor
        while its lease (``now + lease``) lasts."""
        ...

    async def release_polls(self, owner: str, job_ids: list[str]) -> None:
        """End ``owner``'s leases on these jobs (their next poll stays scheduled)."""
        ...

    # upstream: archive -----------------------------------------------------------------------
    async def claim_archives(self, owner: str, limit: int, now: float, lease: float) -> list[ArchiveClaim]:
        """Lease up to ``limit`` due pending archives to ``owner`` and count an attempt for each."""
        ...

    async def complete_archive(self, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
        """Mark the job's archive ``archived`` and emit ``job.archived`` (the job's next sequence,
        ``data.archived_images`` = ``images``) with its deliveries, in one transaction. Returns
        the event, or None (and changes nothing) when ``owner`` no longer holds the lease."""
        ...

    async def fail_archive(
        self, job_id: str, owner: str, error: str, archived: list[ArchivedImage], retry_at: float | None, now: float
    ) -> None:
        """Record a failed attempt (``error``; the images kept so far): due again at ``retry_at``,
        or ``failed`` for good when it is None. Ignored unless ``owner`` holds the lease."""
        ...

    async def get_archive(self, job_id: str) -> ArchiveState | None: ...
