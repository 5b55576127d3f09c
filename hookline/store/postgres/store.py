"""The PostgreSQL backend: any number of hookline processes, on any number of machines, share one
database.

Connections come from one asyncpg pool. Callbacks and delivery completions go through group
committers (one each), so concurrent requests share a transaction and a commit; every other write
is a transaction of its own. Transactions that lose a race another process can win — a deadlock,
a serialization failure, a new job that another receiver created first — are run again (a few
times; then a failed batch is retried op by op by the committer). Claims lock rows with
``FOR UPDATE SKIP LOCKED`` and lease them (``deliveries``). Transactions that make deliveries due
run NOTIFY; ``wait_for_work`` listens (``notify``). Driver errors surface as StoreError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from hookline.clock import Clock
from hookline.config import redact_database_url
from hookline.errors import HooklineError, NotFound, StoreError
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
from hookline.store import rows
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
from hookline.store.groupcommit import GroupCommitter, Op
from hookline.store.postgres import deliveries, schema, sql, upstream, upstream_sql
from hookline.store.postgres.notify import Listener
from hookline.store.postgres.writes import Tx, Writes
from hookline.store.work import (
    ArchiveClaim,
    ArchivedImage,
    ArchiveState,
    NewSubmission,
    PollClaim,
    Submission,
    SubmissionClaim,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Lost races, worth running the transaction again: the second run sees what the winner committed.
RACES = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
INGEST_RACES = (*RACES, asyncpg.UniqueViolationError)
ATTEMPTS = 4
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresStore:
    """PostgreSQL (asyncpg) implementation of the Store protocol."""

    def __init__(self, dsn: str, *, clock: Clock, min_connections: int = 1, max_connections: int = 10) -> None:
        self.dsn = dsn
        self.clock = clock
        self.where = redact_database_url(dsn)  # for messages and logs: never the password
        self._min = min_connections
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None
        self._wake = asyncio.Event()
        self._listener = Listener(dsn, self._wake, safe_dsn=self.where)
        self._ingest = GroupCommitter(self._ingest_batch, name="pg-ingest")
        self._completions = GroupCommitter(self._complete_batch, name="pg-completions")

    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._min,
                max_size=self._max,
                server_settings={"application_name": "hookline"},
                reset=_reset,
            )
            async with self._pool.acquire() as conn:
                await schema.prepare(conn, self.where, migrate=migrate)
        except HooklineError:
            await self.close()
            raise
        except DRIVER_ERRORS as exc:
            await self.close()
            raise StoreError(f"cannot open the PostgreSQL database {self.where}: {_describe(exc)}") from exc
        self._ingest.start()
        self._completions.start()

    async def migrate(self) -> tuple[int, int]:
        pool = self._require_pool()
        try:
            async with pool.acquire() as conn:
                return await schema.prepare(conn, self.where, migrate=True)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"migrating {self.where} failed: {_describe(exc)}") from exc

    async def close(self) -> None:
        for committer in (self._ingest, self._completions):
            with contextlib.suppress(RuntimeError):
                await committer.close()
        await self._listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except (TimeoutError, *DRIVER_ERRORS):
                log.warning("closing the connection pool took too long; terminating it")
                pool.terminate()

    async def ping(self) -> None:
        pool = self._require_pool()
        try:
            async with pool.acquire(timeout=5) as conn:
                await conn.fetchval("SELECT 1", timeout=5)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"PostgreSQL at {self.where} does not answer: {_describe(exc)}") from exc

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    # transactions ----------------------------------------------------------------------------
    async def _transaction(
        self, fn: Callable[[Tx], Awaitable[T]], *, races: tuple[type[BaseException], ...] = RACES
    ) -> T:
        """Run ``fn`` in a transaction of its own, again if it loses a race; NOTIFY dispatchers in
        it if it made deliveries due. InputError passes through; driver errors become StoreError."""

        async def run(conn: asyncpg.Connection) -> tuple[T, bool]:
            async with conn.transaction():
                tx = Tx(conn)
                result = await fn(tx)
                if tx.wake:
                    await conn.execute(sql.NOTIFY)
            return result, tx.wake

        return await self._with_connection(run, races=races)

    async def _with_connection(
        self,
        fn: Callable[[asyncpg.Connection], Awaitable[tuple[T, bool]]],
        *,
        races: tuple[type[BaseException], ...] = RACES,
    ) -> T:
        """Run ``fn`` on a pooled connection (``fn`` owns its transactions), again if it loses a
        race. ``fn`` returns (result, whether deliveries may have become due)."""
        pool = self._require_pool()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with pool.acquire() as conn:
                    result, wake = await fn(conn)
            except races as exc:
                if attempt == ATTEMPTS:
                    raise StoreError(f"a write kept losing races with other processes: {_describe(exc)}") from exc
                log.info("a write lost a race (%s); running it again", type(exc).__name__)
                continue
            except DRIVER_ERRORS as exc:
                raise StoreError(f"a PostgreSQL write failed: {_describe(exc)}") from exc
            if wake:
                self._wake.set()  # a dispatcher in this process need not wait for the notification
            return result
        raise AssertionError("unreachable")

    async def _write(self, fn: Callable[[Writes], Awaitable[T]]) -> T:
        return await self._transaction(lambda tx: fn(Writes(tx)))

    async def _ingest_batch(self, ops: list[Op]) -> list[Any]:
        items = [op.payload for op in ops]
        return await self._transaction(lambda tx: Writes(tx).ingest(items, self.clock.now()), races=INGEST_RACES)

    async def _complete_batch(self, ops: list[Op]) -> list[Any]:
        items = [op.payload for op in ops]

        async def run(conn: asyncpg.Connection) -> tuple[list[Any], bool]:
            return await deliveries.complete(conn, items)

        return await self._with_connection(run)

    # reads -----------------------------------------------------------------------------------
    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        pool = self._require_pool()
        try:
            return list(await pool.fetch(query, *args))
        except DRIVER_ERRORS as exc:
            raise StoreError(f"a PostgreSQL read failed: {_describe(exc)}") from exc

    async def _fetch_one(self, query: str, *args: Any) -> Any:
        found = await self._fetch(query, *args)
        return found[0] if found else None

    async def _page(
        self, select: str, filters: dict[str, Any], limit: int, cursor: str | None, alias: str = ""
    ) -> tuple[list[Any], str | None]:
        """One page, newest first, of ``select`` (``SELECT ... FROM ...``; its main table is
        ``alias`` when it joins), filtered by column equality and started after ``cursor``."""
        limit = max(1, min(limit, MAX_PAGE))
        column = f"{alias}." if alias else ""
        params = list(filters.values())
        clauses = [f"{column}{name} = ${i}" for i, name in enumerate(filters, 1)]
        if cursor:
            params.append(cursor)
            clauses.append(f"{column}id < ${len(params)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit + 1)
        found = await self._fetch(f"{select} {where} ORDER BY {column}id DESC LIMIT ${len(params)}", *params)
        more = len(found) > limit
        found = found[:limit]
        return found, (found[-1][0] if more and found else None)

    # settings --------------------------------------------------------------------------------
    async def ensure_setting(self, key: str, value: str) -> str:
        return await self._write(lambda w: w.ensure_setting(key, value))

    # dashboard sessions ----------------------------------------------------------------------
    async def revoke_session(self, nonce: str, expires_at: float, now: float) -> None:
        async def write(tx: Tx) -> None:
            await tx.conn.execute(sql.FORGET_EXPIRED_SESSIONS, now)
            await tx.conn.execute(sql.REVOKE_SESSION, nonce, expires_at)

        await self._transaction(write)

    async def session_revoked(self, nonce: str) -> bool:
        return await self._fetch_one(sql.SESSION_REVOKED, nonce) is not None

    # receiving -------------------------------------------------------------------------------
    async def record_callback(self, inbound: Inbound) -> CallbackResult:
        result: CallbackResult = await self._ingest.submit("ingest", inbound)
        return result

    async def register_job(self, new: NewJob, now: float) -> Job:
        job = Job.new(
            new_id("job"),
            new.provider,
            now,
            origin=new.origin,
            upstream_id=new.upstream_id,
            correlation_key=new.correlation_key,
            metadata=new.metadata,
        )
        if new.subscription is not None:
            new.subscription.job_id = job.id
        return await self._write(lambda w: w.register_job(new, job))

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._fetch_one(sql.GET_JOB, job_id)
        return None if row is None else rows.job(row)

    async def list_jobs(self, query: JobQuery) -> Page[Job]:
        found, cursor = await self._page(sql.JOBS_WITH_UPSTREAM, query.filters(), query.limit, query.cursor, alias="j")
        return Page([rows.job(r) for r in found], cursor)

    async def job_callbacks(self, job_id: str, limit: int = 200) -> list[CallbackRecord]:
        return [rows.callback(r) for r in await self._fetch(sql.JOB_CALLBACKS, job_id, limit)]

    async def job_events(self, job_id: str, limit: int = 200) -> list[Event]:
        return [rows.event(r) for r in await self._fetch(sql.JOB_EVENTS, job_id, limit)]

    async def list_callbacks(self, query: CallbackQuery) -> Page[CallbackRecord]:
        found, cursor = await self._page(
            f"SELECT {rows.CALLBACK_COLUMNS} FROM callbacks", query.filters(), query.limit, query.cursor
        )
        return Page([rows.callback(r) for r in found], cursor)

    async def list_events(self, query: EventQuery) -> Page[Event]:
        clauses: list[str] = [sql.FEED_SETTLED]
        (elsewhere,) = await self._fetch_one(sql.FEED_ELSEWHERE)  # before the feed's snapshot: see sql.py
        params: list[Any] = [elsewhere]
        after = query.position()
        if after is not None:
            params += [str(after[0]), after[1]]
            clauses.append(sql.FEED_AFTER.format(len(params) - 1, len(params)))
        for name, value in query.filters().items():
            params.append(value)
            clauses.append(f"e.{name} = ${len(params)}")
        params.append(max(1, min(query.limit, MAX_PAGE)))
        where = " AND ".join(clauses)
        found = await self._fetch(f"{sql.FEED_EVENTS} WHERE {where} {sql.FEED_ORDER} LIMIT ${len(params)}", *params)
        return rows.feed_page(found, query.after)

    # subscriptions ---------------------------------------------------------------------------
    async def create_subscription(self, sub: Subscription) -> Subscription:
        return await self._write(lambda w: w.create_subscription(sub))

    async def get_subscription(self, sub_id: str) -> Subscription | None:
        row = await self._fetch_one(sql.GET_SUBSCRIPTION, sub_id)
        return None if row is None else rows.subscription(row)

    async def list_subscriptions(self, query: SubscriptionQuery) -> Page[Subscription]:
        found, cursor = await self._page(
            f"SELECT {rows.SUBSCRIPTION_COLUMNS} FROM subscriptions", query.filters(), query.limit, query.cursor
        )
        return Page([rows.subscription(r) for r in found], cursor)

    async def update_subscription(self, sub_id: str, changes: SubscriptionChanges, now: float) -> Subscription:
        return await self._write(lambda w: w.update_subscription(sub_id, changes, now))

    async def delete_subscription(self, sub_id: str) -> None:
        await self._write(lambda w: w.delete_subscription(sub_id))

    async def rotate_secret(self, sub_id: str, new_secret: str, now: float, overlap: float) -> Subscription:
        return await self._write(lambda w: w.rotate_secret(sub_id, new_secret, now, overlap))

    async def replay(self, sub_id: str, since: float, until: float | None, now: float) -> int:
        return await self._write(lambda w: w.replay(sub_id, since, until, now))

    # deliveries ------------------------------------------------------------------------------
    async def claim_deliveries(
        self, owner: str, limit: int, now: float, lease: float, per_subscription: int
    ) -> list[Claim]:
        async def run(conn: asyncpg.Connection) -> tuple[list[Claim], bool]:
            return await deliveries.claim(conn, owner, limit, now, lease, per_subscription), False

        return await self._with_connection(run)

    async def complete_delivery(self, completion: Completion, now: float, disable_after: float) -> str | None:
        disabled: str | None = await self._completions.submit("complete", (completion, now, disable_after))
        return disabled

    async def release_deliveries(self, owner: str, delivery_ids: list[str]) -> None:
        if delivery_ids:
            await self._write(lambda w: w.release(owner, delivery_ids))

    async def wait_for_work(self, timeout: float) -> None:
        self._listener.ensure_started()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def listening(self, timeout: float = 5.0) -> bool:
        """Start listening for other processes' new deliveries now; True once listening."""
        return await self._listener.wait_connected(timeout)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._fetch_one(sql.GET_DELIVERY, delivery_id)
        return None if row is None else rows.delivery(row)

    async def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        found, cursor = await self._page(
            f"SELECT {rows.DELIVERY_COLUMNS} FROM deliveries", query.filters(), query.limit, query.cursor
        )
        return Page([rows.delivery(r) for r in found], cursor)

    async def delivery_attempts(self, delivery_id: str) -> list[Attempt]:
        return [rows.attempt(r) for r in await self._fetch(sql.DELIVERY_ATTEMPTS, delivery_id)]

    async def retry_delivery(self, delivery_id: str, now: float) -> Delivery:
        await self._write(lambda w: w.retry(delivery_id, now))
        delivery = await self.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        return delivery

    async def backlog(self, now: float) -> Backlog:
        pending, oldest, dead = await self._fetch_one(sql.BACKLOG)
        return Backlog(pending=pending, oldest_pending_at=oldest, dead=dead)

    # upstream: submissions ---------------------------------------------------------------------
    async def register_submission(self, new: NewJob, submission: NewSubmission, now: float) -> Job:
        job = Job.new(
            submission.job_id,
            new.provider,
            now,
            origin=new.origin,
            upstream_id=new.upstream_id,
            correlation_key=new.correlation_key,
            metadata=new.metadata,
        )
        if new.subscription is not None:
            new.subscription.job_id = job.id
        return await self._write(lambda w: upstream.register_submission(w, new, submission, job))

    async def claim_submissions(
        self, owner: str, limit: int, now: float, lease: float, channel_limit: int
    ) -> list[SubmissionClaim]:
        return await self._write(lambda w: upstream.claim_submissions(w, owner, limit, now, lease, channel_limit))

    async def hold_submission(self, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
        await self._write(lambda w: upstream.hold_submission(w, job_id, owner, next_attempt_at, error, now))

    async def finish_submission(self, job_id: str, inbound: Inbound, sent: bool) -> CallbackResult:
        return await self._transaction(
            lambda tx: upstream.finish_submission(Writes(tx), job_id, inbound, sent, self.clock.now()),
            races=INGEST_RACES,
        )

    async def get_submission(self, job_id: str) -> Submission | None:
        row = await self._fetch_one(upstream_sql.GET_SUBMISSION, job_id)
        return None if row is None else upstream.submission(row)

    # upstream: reconciler --------------------------------------------------------------------
    async def claim_polls(
        self, owner: str, limit: int, now: float, lease: float, providers: list[str], quiet_for: float
    ) -> list[PollClaim]:
        return await self._write(lambda w: upstream.claim_polls(w, owner, limit, now, lease, providers, quiet_for))

    async def release_polls(self, owner: str, job_ids: list[str]) -> None:
        if job_ids:
            await self._write(lambda w: upstream.release_polls(w, owner, job_ids))

    # upstream: archive -----------------------------------------------------------------------
    async def claim_archives(self, owner: str, limit: int, now: float, lease: float) -> list[ArchiveClaim]:
        return await self._write(lambda w: upstream.claim_archives(w, owner, limit, now, lease))

    async def complete_archive(self, job_id: str, owner: str, images: list[ArchivedImage], now: float) -> Event | None:
        return await self._write(lambda w: upstream.complete_archive(w, job_id, owner, images, now))

    async def fail_archive(
        self, job_id: str, owner: str, error: str, archived: list[ArchivedImage], retry_at: float | None, now: float
    ) -> None:
        await self._write(lambda w: upstream.fail_archive(w, job_id, owner, error, archived, retry_at, now))

    async def get_archive(self, job_id: str) -> ArchiveState | None:
        row = await self._fetch_one(upstream_sql.GET_ARCHIVE, job_id)
        return None if row is None else upstream.archive_state(row)


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool. Not asyncpg's default (RESET ALL,
    UNLISTEN *, ... — a round trip on every release): this store leaves no session state behind
    (the listener has its own connection), at most a transaction interrupted by a cancellation."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
