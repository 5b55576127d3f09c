"""The store: hookline's domain methods, written once over a :class:`~hookline.store.driver.Driver`.
Callers never see SQL.

Two drivers exist: ``sqlite`` (the embedded default: aiosqlite readers, one group-committing
writer connection, WAL, synchronous FULL) and ``postgres`` (asyncpg, for many processes). A
method returns only after its writes are committed; the writes of one callback (the callback row,
the job change, its events and their deliveries) are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from hookline.clock import Clock
from hookline.errors import NotFound
from hookline.ids import new_id
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
from hookline.store import idempotency, operations, rates, receiving, rows, subscriptions, work
from hookline.store.apikeys import ApiKeys
from hookline.store.base import (
    MAX_PAGE,
    Backlog,
    CallbackQuery,
    DeliveryQuery,
    EventQuery,
    JobQuery,
    NewJob,
    SubscriptionChanges,
    SubscriptionQuery,
)
from hookline.store.driver import Driver, Row, Tx
from hookline.store.idempotency import Answer, KeyClaim
from hookline.store.retention import Retention
from hookline.store.work import (
    ArchiveClaim,
    ArchivedImage,
    ArchiveState,
    NewSubmission,
    PollClaim,
    Submission,
    SubmissionClaim,
)


class Store(ApiKeys, Retention):
    """Every store operation. ``open`` before use, ``close`` after. Capabilities with a module
    of their own come in as mixins (``apikeys``, ``retention``)."""

    def __init__(self, driver: Driver, clock: Clock) -> None:
        self.driver = driver
        self.clock = clock

    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        """Connect, refuse a schema newer than this code (SchemaTooNew), migrate if asked."""
        await self.driver.open(migrate=migrate)

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        await self.driver.close()

    async def migrate(self) -> tuple[int, int]:
        """Apply pending migrations; return (version before, version after)."""
        return await self.driver.migrate()

    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""
        await self.driver.ping()

    async def ensure_setting(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is stored already; return the stored value."""

        async def unit(tx: Tx) -> str:
            await tx.execute("put_setting", key=key, value=value)
            (row,) = await tx.fetch("get_setting", key=key)
            return str(row["value"])

        return await self.driver.write(unit)

    # reads -----------------------------------------------------------------------------------
    async def _one(self, name: str, **params: Any) -> Row | None:
        found = await self.driver.fetch(name, **params)
        return found[0] if found else None

    async def _page(self, select: str, query: Any, alias: str = "") -> tuple[list[Row], str | None]:
        """One page, newest first, of ``select`` (``SELECT ... FROM ...``; its main table is
        ``alias`` when it joins), filtered by the query's column equalities, after its cursor."""
        limit = max(1, min(query.limit, MAX_PAGE))
        column = f"{alias}." if alias else ""
        params: dict[str, Any] = query.filters()
        clauses = [f"{column}{name} = :{name}" for name in params]
        if query.cursor:
            clauses.append(f"{column}id < :cursor")
            params["cursor"] = query.cursor
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        found = await self.driver.fetch(
            f"{select} {where} ORDER BY {column}id DESC LIMIT :limit", limit=limit + 1, **params
        )
        more = len(found) > limit
        found = found[:limit]
        return found, (found[-1]["id"] if more and found else None)

    # receiving -------------------------------------------------------------------------------
    async def _ingest(self, tx: Tx, items: list[Inbound]) -> list[CallbackResult]:
        return await receiving.ingest(tx, items, self.clock.now())

    def record_callback(self, inbound: Inbound) -> Awaitable[CallbackResult]:
        """Correlate, apply and persist one callback with its events and deliveries, atomically.
        When the callback makes a job ``succeeded`` with image URLs, the same transaction queues
        the job for the archive (a ``pending`` archive due now; once per job)."""
        # The driver's awaitable itself, not a coroutine around it: a frame less per callback.
        result: Awaitable[CallbackResult] = self.driver.batched(self._ingest, inbound)
        return result

    async def register_job(self, new: NewJob, now: float) -> Job:
        """Create a job ahead of its callbacks (with its one-off subscription, if any)."""
        job = receiving.new_job(new, new_id("job"), now)
        return await self.driver.write(lambda tx: receiving.register_job(tx, new, job))

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._one("get_job", id=job_id)
        return None if row is None else rows.job(row)

    async def list_jobs(self, query: JobQuery) -> Page[Job]:
        found, cursor = await self._page(
            "SELECT j.*, u.body AS upstream FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id",
            query,
            alias="j",
        )
        return Page([rows.job(r) for r in found], cursor)

    async def job_callbacks(self, job_id: str, limit: int = 200) -> list[CallbackRecord]:
        return [rows.callback(r) for r in await self.driver.fetch("job_callbacks", job_id=job_id, limit=limit)]

    async def job_events(self, job_id: str, limit: int = 200) -> list[Event]:
        return [rows.event(r) for r in await self.driver.fetch("job_events", job_id=job_id, limit=limit)]

    async def list_callbacks(self, query: CallbackQuery) -> Page[CallbackRecord]:
        """The callback log, newest first (rejected callbacks included: they have no job)."""
        found, cursor = await self._page("SELECT * FROM callbacks", query)
        return Page([rows.callback(r) for r in found], cursor)

    async def list_events(self, query: EventQuery) -> Page[Event]:
        """The event feed, OLDEST first, after ``query.after``. ``next_cursor`` is the cursor of the
        last event returned (``query.after`` again when none is), so a follower never misses an
        event that commits after it read: the order is commit order, and an event of a transaction
        still in flight is held back until that transaction ends (``feed_events`` in the sql files).
        ``feed_elsewhere`` is read first, apart: the transactions running in other databases."""
        (elsewhere,) = await self.driver.fetch("feed_elsewhere")
        position, event_id = query.position() or (0, "")
        found = await self.driver.fetch(
            "feed_events",
            elsewhere=elsewhere["xids"],
            after_position=position,
            after_id=event_id,
            type=query.type,
            job_id=query.job_id,
            limit=max(1, min(query.limit, MAX_PAGE)),
        )
        return rows.feed_page(found, query.after)

    # subscriptions ---------------------------------------------------------------------------
    async def create_subscription(self, sub: Subscription) -> Subscription:
        return await self.driver.write(lambda tx: receiving.create_subscription(tx, sub))

    async def get_subscription(self, sub_id: str) -> Subscription | None:
        row = await self._one("get_subscription", id=sub_id)
        return None if row is None else rows.subscription(row)

    async def list_subscriptions(self, query: SubscriptionQuery) -> Page[Subscription]:
        found, cursor = await self._page("SELECT * FROM subscriptions", query)
        return Page([rows.subscription(r) for r in found], cursor)

    async def update_subscription(self, sub_id: str, changes: SubscriptionChanges, now: float) -> Subscription:
        """Apply a PATCH. Disabling pauses the subscription's pending deliveries; enabling resumes
        the head of each of its chains. Raises NotFound."""
        return await self.driver.write(lambda tx: subscriptions.update(tx, sub_id, changes, now))

    async def delete_subscription(self, sub_id: str) -> None:
        """Delete the subscription with its deliveries and attempts. Raises NotFound."""
        await self.driver.write(lambda tx: subscriptions.delete(tx, sub_id))

    async def rotate_secret(self, sub_id: str, new_secret: str, now: float, overlap: float) -> Subscription:
        """Make ``new_secret`` current; the previous ones keep signing for ``overlap`` seconds."""
        return await self.driver.write(lambda tx: subscriptions.rotate_secret(tx, sub_id, new_secret, now, overlap))

    async def replay(self, sub_id: str, since: float, until: float | None, now: float) -> int:
        """Queue again, for one subscription, every matching event created in [since, until)."""

        async def unit(tx: Tx) -> int:
            sub = await subscriptions.enabled(tx, sub_id, "before replaying")
            return await receiving.replay(tx, sub, since, until, now)

        return await self.driver.write(unit)

    # deliveries ------------------------------------------------------------------------------
    async def claim_deliveries(
        self, owner: str, limit: int, now: float, lease: float, per_subscription: int
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries to ``owner``, never more than ``per_subscription``
        in flight for one subscription (counting leases other dispatchers hold). Each claim
        carries its subscription's headers and retry schedule, and, when the subscription has a
        rate limit, the time it may be sent (``send_at``; see ``rates``)."""
        claims = await self.driver.claims.claim(owner, limit, now, lease, per_subscription)
        return await rates.with_settings(self.driver, claims, owner, now)

    async def complete_delivery(self, completion: Completion, now: float, disable_after: float) -> str | None:
        """Record an attempt and its consequences (retry, delivered, dead; subscription health;
        promotion of the next delivery in the chain). Ignored, but for the attempt row, if the
        lease was lost to another dispatcher.

        Returns the reason when recording this attempt disabled its subscription (410 Gone, or no
        success for ``disable_after`` seconds), else None. A subscription is reported disabled by
        exactly one call, however many attempts were recorded together, so the dispatcher can
        count disablings honestly."""
        return await self.driver.claims.complete(completion, now, disable_after)

    async def release_deliveries(self, owner: str, delivery_ids: list[str]) -> None:
        """Give leases back unsent (shutdown), so another dispatcher can send them now."""
        if delivery_ids:
            await self.driver.claims.release(owner, delivery_ids)

    async def wait_for_work(self, timeout: float) -> None:
        """Return when new deliveries may be due, or after ``timeout`` seconds."""
        await self.driver.wait_for_work(timeout)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._one("get_delivery", id=delivery_id)
        return None if row is None else rows.delivery(row)

    async def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        found, cursor = await self._page("SELECT * FROM deliveries", query)
        return Page([rows.delivery(r) for r in found], cursor)

    async def delivery_attempts(self, delivery_id: str) -> list[Attempt]:
        return [rows.attempt(r) for r in await self.driver.fetch("delivery_attempts", id=delivery_id)]

    async def retry_delivery(self, delivery_id: str, now: float) -> Delivery:
        """Make a dead (or waiting) delivery due now. Raises NotFound, Conflict."""
        claims = self.driver.claims
        await self.driver.write(lambda tx: subscriptions.retry_delivery(tx, claims, delivery_id, now))
        delivery = await self.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        return delivery

    async def retry_deliveries(self, wanted: operations.BulkRetry, now: float) -> int:
        """Send again now every delivery ``wanted`` matches, each chain still in order (see
        ``operations``); return how many were queued."""
        claims = self.driver.claims
        return await self.driver.write(lambda tx: operations.retry_deliveries(tx, claims, wanted, now))

    async def backlog(self, now: float) -> Backlog:
        row = await self._one("backlog")
        assert row is not None
        return Backlog(pending=row["pending"], oldest_pending_at=row["oldest"], dead=row["dead"])

    # upstream: submissions ---------------------------------------------------------------------
    async def register_submission(self, new: NewJob, submission: NewSubmission, now: float) -> Job:
        """Create the job ``submission.job_id`` (from ``new``, with its one-off subscription) and
        its submission, ``pending`` and due now, in one transaction."""
        job = receiving.new_job(new, submission.job_id, now)
        return await self.driver.write(lambda tx: work.register_submission(tx, new, submission, job))

    async def claim_submissions(
        self, owner: str, limit: int, now: float, lease: float, channel_limit: int
    ) -> list[SubmissionClaim]:
        """Lease up to ``limit`` due pending submissions of non-terminal jobs to ``owner`` (oldest
        due first) and count an attempt for each. A submission with a ``channel`` is claimed only
        while fewer than ``channel_limit`` jobs of that channel run: a job runs from the claim of
        its submission until the job is terminal (sent and not terminal, or leased right now)."""
        return await self.driver.write(lambda tx: work.claim_submissions(tx, owner, limit, now, lease, channel_limit))

    async def hold_submission(self, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
        """Put a claimed submission back in the queue, due at ``next_attempt_at``, noting why
        (the upstream's queue was full, or it could not be reached). Ignored unless ``owner``
        holds the lease."""
        await self.driver.write(lambda tx: work.hold_submission(tx, job_id, owner, next_attempt_at, error, now))

    async def finish_submission(self, job_id: str, inbound: Inbound, sent: bool) -> CallbackResult:
        """Apply the upstream's answer to a submission (``inbound``: source ``submit``, its
        snapshot carrying the job id as correlation key) exactly as ``record_callback`` does, and
        mark the submission ``sent`` (``sent_at`` = the answer's time) or ``refused`` (with the
        snapshot's error) — all in one transaction. Applies even if the lease was lost: the
        upstream's answer is a fact."""
        return await self.driver.write(lambda tx: work.finish_submission(tx, job_id, inbound, sent, self.clock.now()))

    async def get_submission(self, job_id: str) -> Submission | None:
        row = await self._one("get_submission", job_id=job_id)
        return None if row is None else work.submission(row)

    # upstream: reconciler --------------------------------------------------------------------
    async def claim_polls(
        self, owner: str, limit: int, now: float, lease: float, providers: list[str], quiet_for: float
    ) -> list[PollClaim]:
        """Lease to ``owner`` up to ``limit`` non-terminal jobs of ``providers`` that have been
        quiet (no callback or poll: ``last_seen_at``, else ``created_at``) since ``now - quiet_for``,
        quietest first. Jobs whose submission is still in hookline's queue are not the upstream's
        yet and are skipped. A claimed job is not offered again before ``now + quiet_for``, nor
        while its lease (``now + lease``) lasts."""
        return await self.driver.write(lambda tx: work.claim_polls(tx, owner, limit, now, lease, providers, quiet_for))

    async def release_polls(self, owner: str, job_ids: list[str]) -> None:
        """End ``owner``'s leases on these jobs (their next poll stays scheduled)."""
        if job_ids:
            await self.driver.write(lambda tx: work.release_polls(tx, owner, job_ids))

    # upstream: archive -----------------------------------------------------------------------
    async def claim_archives(self, owner: str, limit: int, now: float, lease: float) -> list[ArchiveClaim]:
        """Lease up to ``limit`` due pending archives to ``owner`` and count an attempt for each."""
        return await self.driver.write(lambda tx: work.claim_archives(tx, owner, limit, now, lease))

    async def complete_archive(self, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
        """Mark the job's archive ``archived`` and emit ``job.archived`` (the job's next sequence,
        ``data.archived_images`` = ``images``) with its deliveries, in one transaction. Returns
        the event, or None (and changes nothing) when ``owner`` no longer holds the lease."""
        return await self.driver.write(lambda tx: work.complete_archive(tx, job_id, owner, images, now))

    async def fail_archive(
        self, job_id: str, owner: str, error: str, archived: list[ArchivedImage], retry_at: float | None, now: float
    ) -> None:
        """Record a failed attempt (``error``; the images kept so far): due again at ``retry_at``,
        or ``failed`` for good when it is None. Ignored unless ``owner`` holds the lease."""
        await self.driver.write(lambda tx: work.fail_archive(tx, job_id, owner, error, archived, retry_at, now))

    async def get_archive(self, job_id: str) -> ArchiveState | None:
        row = await self._one("get_archive", job_id=job_id)
        return None if row is None else work.archive_state(row)

    # dashboard sessions ----------------------------------------------------------------------
    async def revoke_session(self, nonce: str, expires_at: float, now: float) -> None:
        """Revoke the dashboard session ``nonce`` until ``expires_at`` (when its cookie would expire
        anyway); revocations that have expired by ``now`` are forgotten."""

        async def unit(tx: Tx) -> None:
            await tx.execute("forget_expired_sessions", now=now)
            await tx.execute("revoke_session", nonce=nonce, expires_at=expires_at)

        await self.driver.write(unit)

    async def session_revoked(self, nonce: str) -> bool:
        """Whether the dashboard session ``nonce`` was logged out."""
        return await self._one("session_revoked", nonce=nonce) is not None

    # idempotency keys (see ``idempotency``) ------------------------------------------------------
    async def claim_idempotency_key(
        self, credential: str, key: str, fingerprint: str, owner: str, now: float, lock: float
    ) -> KeyClaim:
        """Claim ``credential``'s ``key`` for the request ``fingerprint`` under the token ``owner``,
        locked for ``lock`` seconds; or say why not (its answer to replay, in use, or reused)."""
        return await self.driver.write(lambda tx: idempotency.claim(tx, credential, key, fingerprint, owner, now, lock))

    async def extend_idempotency_lock(self, credential: str, key: str, owner: str, locked_until: float) -> bool:
        """Keep holding a running request's key; False when another request took it over."""
        return await self.driver.write(lambda tx: idempotency.extend(tx, credential, key, owner, locked_until))

    async def save_idempotent_answer(self, credential: str, key: str, owner: str, answer: Answer, now: float) -> bool:
        """Keep the claimed key's answer for 24 h; False (nothing kept) when ``owner`` lost it."""
        return await self.driver.write(lambda tx: idempotency.save(tx, credential, key, owner, answer, now))

    async def release_idempotency_key(self, credential: str, key: str, owner: str) -> None:
        """Give a claimed key back unanswered (the request failed): the next request runs."""
        await self.driver.write(lambda tx: idempotency.release(tx, credential, key, owner))

    async def prune_idempotency(self, now: float, limit: int) -> int:
        """Delete up to ``limit`` dead keys (answers past their 24 h, locks of crashed requests run
        out); return how many. Never waits for a key a request is claiming."""
        return await self.driver.write(lambda tx: idempotency.prune(tx, now, limit))
