"""The SQLite backend: the embedded default.

One writer connection, owned by a group-commit task, runs every write; its statements execute on
the event loop thread (they are short B-tree operations) and each batch's COMMIT — the fsync, the
only slow part — runs on a dedicated thread while the loop goes on reading requests, which join
the next batch. (Measured: committing on the loop thread instead blocked it through every fsync,
and at a steady 1,000 callbacks/s with 3,000 deliveries/s the backlog grew; on the commit thread
it held at a few dozen.) Reads go through a small pool of aiosqlite connections, which WAL lets
run beside the writer.

Only one process may use a SQLite file: a lock file beside the database enforces it, so delivery
leases live in memory (``leases``) and the upstream queues' leases left by a killed process are
released at start-up. To run several processes, use PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from hookline.clock import Clock
from hookline.errors import InputError, NotFound, StoreError
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
from hookline.store import migrations, rows
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
from hookline.store.groupcommit import Failed, GroupCommitter, Op
from hookline.store.sqlite import sql, upstream, upstream_sql
from hookline.store.sqlite.leases import Leases
from hookline.store.sqlite.writes import Writes
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
READERS = 3


class SqliteStore:
    """SQLite (WAL, synchronous FULL) implementation of the Store protocol."""

    def __init__(self, path: Path, *, clock: Clock, exclusive: bool = True) -> None:
        self.path = path
        self.exclusive = exclusive
        self.clock = clock
        self._conn: sqlite3.Connection | None = None
        self._writes: Writes | None = None
        self._lock_fd: int | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._committer = GroupCommitter(self._run_batch, name="sqlite-writer")
        self._commit_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self._wake = asyncio.Event()
        self._leases = Leases()

    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.exclusive:
                self._take_file_lock()
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in sql.PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
            self._writes = Writes(conn, self._leases)
            conn.execute(sql.CREATE_MIGRATIONS)
            known = migrations.discover("hookline.store.sqlite")
            migrations.check_not_newer(self._schema_version(), known, str(self.path))
            if migrate:
                self._migrate(known)
            if self.exclusive:
                # We are the only process: leases left behind are stale. (Before ``hookline migrate``
                # ran, the tables they live in may not exist yet.)
                version = self._schema_version()
                if version >= upstream_sql.SCHEMA:
                    for statement in upstream_sql.RELEASE_ALL:
                        conn.execute(statement)
            for _ in range(READERS):
                reader = await aiosqlite.connect(self.path)
                await reader.execute("PRAGMA busy_timeout = 5000")
                await reader.execute("PRAGMA query_only = 1")
                self._all_readers.append(reader)
                self._readers.put_nowait(reader)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open the SQLite database {self.path}: {exc}") from exc
        self._committer.start()

    def _take_file_lock(self) -> None:
        lock_path = Path(str(self.path) + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"another hookline process is using {self.path}: a SQLite database serves one process. "
                "Stop the other one, or use PostgreSQL (HOOKLINE_DATABASE_URL=postgresql://...) to run several"
            ) from None
        self._lock_fd = fd

    def _schema_version(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute(sql.SCHEMA_VERSION).fetchone()[0])

    def _migrate(self, known: list[migrations.Migration]) -> tuple[int, int]:
        assert self._conn is not None
        before = self._schema_version()
        for migration in migrations.pending(before, known):
            log.info("applying migration %04d_%s", migration.version, migration.name)
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(migration.sql):
                    self._conn.execute(statement)
                self._conn.execute(sql.RECORD_MIGRATION, (migration.version, migration.name, self.clock.now()))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return before, self._schema_version()

    async def migrate(self) -> tuple[int, int]:
        return self._migrate(migrations.discover("hookline.store.sqlite"))

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self._committer.close()
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._commit_thread.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    # the writer ------------------------------------------------------------------------------
    async def _run_batch(self, ops: list[Op]) -> list[Any]:
        conn, writes = self._conn, self._writes
        assert conn is not None and writes is not None
        now = self.clock.now()
        leases = self._leases.snapshot()
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = self._apply(ops, writes, now)
        except BaseException:
            conn.execute("ROLLBACK")
            self._leases.restore(leases)
            writes.subscriptions.invalidate()
            writes.wake = False
            raise
        try:
            await asyncio.get_running_loop().run_in_executor(self._commit_thread, conn.execute, "COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._leases.restore(leases)
            writes.subscriptions.invalidate()
            writes.wake = False
            raise
        if writes.wake:
            writes.wake = False
            self._wake.set()
        return results

    def _apply(self, ops: list[Op], writes: Writes, now: float) -> list[Any]:
        results: list[Any] = []
        i = 0
        while i < len(ops):
            kind = ops[i].kind
            j = i
            while j < len(ops) and ops[j].kind == kind:
                j += 1
            group = [op.payload for op in ops[i:j]]
            if kind == "ingest":
                results.extend(writes.ingest(group, now))
            elif kind == "complete":
                results.extend(writes.complete(group))
            else:
                results.extend(self._call(fn, writes) for fn in group)
            i = j
        return results

    def _call(self, fn: Callable[[Writes], Any], writes: Writes) -> Any:
        conn = writes.conn
        conn.execute("SAVEPOINT op")
        try:
            result = fn(writes)
        except InputError as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            writes.subscriptions.invalidate()
            return Failed(exc)
        conn.execute("RELEASE op")
        return result

    async def _write(self, fn: Callable[[Writes], T]) -> T:
        result: T = await self._committer.submit("call", fn)
        return result

    # reads -----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[Any]:
        try:
            async with self._reader() as conn:
                return list(await conn.execute_fetchall(query, params))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    async def _fetch_one(self, query: str, params: Sequence[Any]) -> Any:
        found = await self._fetch(query, params)
        return found[0] if found else None

    async def _page(
        self, select: str, filters: dict[str, Any], limit: int, cursor: str | None, alias: str = ""
    ) -> tuple[list[Any], str | None]:
        """One page, newest first, of ``select`` (``SELECT ... FROM ...``; its main table is
        ``alias`` when it joins), filtered by column equality and started after ``cursor``."""
        limit = max(1, min(limit, MAX_PAGE))
        column = f"{alias}." if alias else ""
        clauses = [f"{column}{name} = ?" for name in filters]
        params = list(filters.values())
        if cursor:
            clauses.append(f"{column}id < ?")
            params.append(cursor)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        found = await self._fetch(f"{select} {where} ORDER BY {column}id DESC LIMIT ?", [*params, limit + 1])
        more = len(found) > limit
        found = found[:limit]
        return found, (found[-1][0] if more and found else None)

    # settings --------------------------------------------------------------------------------
    async def ensure_setting(self, key: str, value: str) -> str:
        def write(w: Writes) -> str:
            w.conn.execute(sql.PUT_SETTING, (key, value))
            return str(w.conn.execute(sql.GET_SETTING, (key,)).fetchone()[0])

        return await self._write(write)

    # dashboard sessions ----------------------------------------------------------------------
    async def revoke_session(self, nonce: str, expires_at: float, now: float) -> None:
        def write(w: Writes) -> None:
            w.conn.execute(sql.FORGET_EXPIRED_SESSIONS, (now,))
            w.conn.execute(sql.REVOKE_SESSION, (nonce, expires_at))

        await self._write(write)

    async def session_revoked(self, nonce: str) -> bool:
        return await self._fetch_one(sql.SESSION_REVOKED, (nonce,)) is not None

    # receiving -------------------------------------------------------------------------------
    async def record_callback(self, inbound: Inbound) -> CallbackResult:
        result: CallbackResult = await self._committer.submit("ingest", inbound)
        return result

    async def register_job(self, new: NewJob, now: float) -> Job:
        job = _new_job(new, new_id("job"), now)
        return await self._write(lambda w: w.register_job(new, job))

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._fetch_one(sql.GET_JOB, (job_id,))
        return None if row is None else rows.job(row)

    async def list_jobs(self, query: JobQuery) -> Page[Job]:
        found, cursor = await self._page(sql.JOBS_WITH_UPSTREAM, query.filters(), query.limit, query.cursor, alias="j")
        return Page([rows.job(r) for r in found], cursor)

    async def job_callbacks(self, job_id: str, limit: int = 200) -> list[CallbackRecord]:
        return [rows.callback(r) for r in await self._fetch(sql.JOB_CALLBACKS, (job_id, limit))]

    async def job_events(self, job_id: str, limit: int = 200) -> list[Event]:
        return [rows.event(r) for r in await self._fetch(sql.JOB_EVENTS, (job_id, limit))]

    async def list_callbacks(self, query: CallbackQuery) -> Page[CallbackRecord]:
        found, cursor = await self._page(
            f"SELECT {rows.CALLBACK_COLUMNS} FROM callbacks", query.filters(), query.limit, query.cursor
        )
        return Page([rows.callback(r) for r in found], cursor)

    async def list_events(self, query: EventQuery) -> Page[Event]:
        clauses: list[str] = []
        params: list[Any] = []
        after = query.position()
        if after is not None:
            clauses.append(sql.FEED_AFTER)
            params += [after[1], after[0]]
        for name, value in query.filters().items():
            clauses.append(f"e.{name} = ?")
            params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        limit = max(1, min(query.limit, MAX_PAGE))
        found = await self._fetch(f"{sql.FEED_EVENTS} {where} ORDER BY e.rowid LIMIT ?", [*params, limit])
        return rows.feed_page(found, query.after)

    # subscriptions ---------------------------------------------------------------------------
    async def create_subscription(self, sub: Subscription) -> Subscription:
        return await self._write(lambda w: w.create_subscription(sub))

    async def get_subscription(self, sub_id: str) -> Subscription | None:
        row = await self._fetch_one(sql.GET_SUBSCRIPTION, (sub_id,))
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
        return await self._write(lambda w: w.claim(owner, limit, now, lease, per_subscription))

    async def complete_delivery(self, completion: Completion, now: float, disable_after: float) -> str | None:
        disabled: str | None = await self._committer.submit("complete", (completion, now, disable_after))
        return disabled

    async def release_deliveries(self, owner: str, delivery_ids: list[str]) -> None:
        if delivery_ids:
            await self._write(lambda w: w.release(owner, delivery_ids))

    async def wait_for_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._fetch_one(sql.GET_DELIVERY, (delivery_id,))
        return None if row is None else rows.delivery(row)

    async def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        found, cursor = await self._page(
            f"SELECT {rows.DELIVERY_COLUMNS} FROM deliveries", query.filters(), query.limit, query.cursor
        )
        return Page([rows.delivery(r) for r in found], cursor)

    async def delivery_attempts(self, delivery_id: str) -> list[Attempt]:
        return [rows.attempt(r) for r in await self._fetch(sql.DELIVERY_ATTEMPTS, (delivery_id,))]

    async def retry_delivery(self, delivery_id: str, now: float) -> Delivery:
        await self._write(lambda w: w.retry(delivery_id, now))
        delivery = await self.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        return delivery

    async def backlog(self, now: float) -> Backlog:
        pending, oldest = await self._fetch_one(sql.BACKLOG[0], ())
        (dead,) = await self._fetch_one(sql.BACKLOG[1], ())
        return Backlog(pending=pending, oldest_pending_at=oldest, dead=dead)

    # upstream: submissions ---------------------------------------------------------------------
    async def register_submission(self, new: NewJob, submission: NewSubmission, now: float) -> Job:
        job = _new_job(new, submission.job_id, now)
        return await self._write(lambda w: upstream.register_submission(w, new, submission, job))

    async def claim_submissions(
        self, owner: str, limit: int, now: float, lease: float, channel_limit: int
    ) -> list[SubmissionClaim]:
        return await self._write(lambda w: upstream.claim_submissions(w, owner, limit, now, lease, channel_limit))

    async def hold_submission(self, job_id: str, owner: str, next_attempt_at: float, error: str, now: float) -> None:
        await self._write(lambda w: upstream.hold_submission(w, job_id, owner, next_attempt_at, error, now))

    async def finish_submission(self, job_id: str, inbound: Inbound, sent: bool) -> CallbackResult:
        return await self._write(lambda w: upstream.finish_submission(w, job_id, inbound, sent, self.clock.now()))

    async def get_submission(self, job_id: str) -> Submission | None:
        row = await self._fetch_one(upstream_sql.GET_SUBMISSION, (job_id,))
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
        row = await self._fetch_one(upstream_sql.GET_ARCHIVE, (job_id,))
        return None if row is None else upstream.archive_state(row)


def _new_job(new: NewJob, job_id: str, now: float) -> Job:
    """The job ``new`` describes, queued with no snapshot yet, its one-off subscription pointed at it."""
    job = Job.new(
        job_id,
        new.provider,
        now,
        origin=new.origin,
        upstream_id=new.upstream_id,
        correlation_key=new.correlation_key,
        metadata=new.metadata,
    )
    if new.subscription is not None:
        new.subscription.job_id = job.id
    return job


def _statements(script: str) -> list[str]:
    """Split a migration into statements (migrations keep ``--`` and ``;`` out of string literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
