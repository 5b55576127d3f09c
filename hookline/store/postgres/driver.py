"""The PostgreSQL driver: any number of hookline processes, on any number of machines, share one
database.

Connections come from one asyncpg pool. Batched units (callbacks, delivery completions) go through
group committers: concurrent requests share a transaction; every other unit is a transaction of
its own. A transaction that loses a race to another process (a deadlock, a serialization failure,
a new job another receiver created first) runs again. Transactions that make deliveries due run
NOTIFY (``notify`` listens). Migrations run under an advisory lock: exactly one process applies each.
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
from hookline.errors import HooklineError, StoreError
from hookline.fanout import SubscriptionSet
from hookline.store import migrations, rows
from hookline.store.driver import BatchUnit, Columns, Params, Row, Unit
from hookline.store.groupcommit import GroupCommitter, RunBatch
from hookline.store.postgres.claims import PostgresClaims
from hookline.store.postgres.notify import Listener
from hookline.store.queries import resolver

log = logging.getLogger(__name__)
T = TypeVar("T")

# Lost races, worth running the transaction again: the second run sees what the winner committed.
RACES = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.UniqueViolationError)
ATTEMPTS = 4
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
MIGRATION_LOCK = 0x686F6F6B6C696E65  # "hookline"
statement = resolver("postgres")


def storable(value: Any) -> Any:
    """``value`` with NUL characters in its strings replaced by U+FFFD: PostgreSQL text cannot hold
    NUL, and outside text (an upstream's error message, a subscriber's response) may contain it.
    Raw bodies are bytea and keep every byte."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def args(query: str, params: Params) -> list[Any]:
    """The statement's text, then its parameters' values in ``$n`` order."""
    found = statement(query)
    return [found.text, *(storable(params[name]) for name in found.names)]


class PostgresTx:
    """One open transaction, as a unit sees it (see ``driver.Tx``)."""

    def __init__(self, conn: asyncpg.Connection, claims: PostgresClaims) -> None:
        self.conn = conn
        self.claims = claims
        self.wake = False

    async def fetch(self, name: str, /, **params: Any) -> list[Row]:
        return list(await self.conn.fetch(*args(name, params)))

    async def fetch_one(self, name: str, /, **params: Any) -> Row | None:
        return await self.conn.fetchrow(*args(name, params))

    async def execute(self, name: str, /, **params: Any) -> int:
        status: str = await self.conn.execute(*args(name, params))
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def many(self, name: str, columns: Columns, rows: list[tuple[Any, ...]], /) -> None:
        """One statement over arrays: each column of ``rows`` is one array parameter."""
        found = statement(name)
        by_name = dict(zip(columns, zip(*rows, strict=True) if rows else [()] * len(columns), strict=True))
        await self.conn.execute(found.text, *(storable(list(by_name[n])) for n in found.names))

    async def lock(self, name: str, /, **params: Any) -> None:
        await self.conn.execute(*args(name, params))

    async def fanout_subscriptions(self, job_ids: list[str]) -> SubscriptionSet:
        return SubscriptionSet(
            rows.subscription(r) for r in await self.fetch("subscriptions_for_fanout", job_ids=job_ids)
        )

    def subscriptions_changed(self) -> None:
        """Nothing cached: every process reads the subscriptions in its transaction."""


class PostgresDriver:
    def __init__(self, dsn: str, *, clock: Clock, max_connections: int = 10) -> None:
        self.dsn = dsn
        self.clock = clock
        self.where = redact_database_url(dsn)  # for messages and logs: never the password
        self.claims = PostgresClaims(self)
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None
        self._wake = asyncio.Event()
        self.listener = Listener(dsn, self._wake, safe_dsn=self.where)
        self._committers: dict[Any, GroupCommitter] = {}
        self._closed = False

    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._max,
                server_settings={"application_name": "hookline"},
                reset=_reset,
            )
            async with self._pool.acquire() as conn:
                await self._prepare(conn, migrate=migrate)
        except HooklineError:
            await self.close()
            raise
        except DRIVER_ERRORS as exc:
            await self.close()
            raise StoreError(f"cannot open the PostgreSQL database {self.where}: {_describe(exc)}") from exc

    async def _prepare(self, conn: asyncpg.Connection, *, migrate: bool) -> tuple[int, int]:
        """Refuse a schema newer than this code; apply the pending migrations if ``migrate``, each
        in its own transaction with its ``schema_migrations`` row."""
        known = migrations.discover("hookline.store.postgres")
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(statement("create_migrations").text)
            before = int(await conn.fetchval(statement("schema_version").text))
            migrations.check_not_newer(before, known, self.where)
            for migration in migrations.pending(before, known) if migrate else []:
                log.info("applying migration %04d_%s", migration.version, migration.name)
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        *args("record_migration", {"version": migration.version, "name": migration.name})
                    )
            return before, int(await conn.fetchval(statement("schema_version").text))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def migrate(self) -> tuple[int, int]:
        try:
            async with self._require_pool().acquire() as conn:
                return await self._prepare(conn, migrate=True)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"migrating {self.where} failed: {_describe(exc)}") from exc

    async def close(self) -> None:
        self._closed = True
        for committer in self._committers.values():
            with contextlib.suppress(RuntimeError):
                await committer.close()
        await self.listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except (TimeoutError, *DRIVER_ERRORS):
                log.warning("closing the connection pool took too long; terminating it")
                pool.terminate()

    async def ping(self) -> None:
        try:
            async with self._require_pool().acquire(timeout=5) as conn:
                await conn.fetchval("SELECT 1", timeout=5)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"PostgreSQL at {self.where} does not answer: {_describe(exc)}") from exc

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    # reads -----------------------------------------------------------------------------------
    async def fetch(self, query: str, /, **params: Any) -> list[Row]:
        pool = self._require_pool()
        try:
            return list(await pool.fetch(*args(query, params)))
        except DRIVER_ERRORS as exc:
            raise StoreError(f"a PostgreSQL read failed: {_describe(exc)}") from exc

    # writes ----------------------------------------------------------------------------------
    async def write(self, unit: Unit[T]) -> T:
        """Run ``unit`` in a transaction of its own (again if it loses a race); NOTIFY dispatchers
        in it if it made deliveries due."""

        async def run(tx: PostgresTx) -> tuple[T, bool]:
            async with tx.conn.transaction():
                result = await unit(tx)
                if tx.wake:
                    await tx.execute("notify")
            return result, tx.wake

        return await self.with_connection(run)

    def batched(self, unit: BatchUnit, item: Any) -> Awaitable[Any]:
        return self.grouped(unit, lambda ops: self.write(lambda tx: unit(tx, [op.payload for op in ops])), item)

    async def grouped(self, key: Any, run_batch: RunBatch, item: Any) -> Any:
        """Run ``run_batch`` over this item and whatever other items of ``key`` are waiting."""
        committer = self._committers.get(key)
        if committer is None:
            if self._closed or self._pool is None:
                raise RuntimeError("the store is closed")
            committer = self._committers[key] = GroupCommitter(run_batch, name="pg-batch")
            committer.start()
        return await committer.submit(key, item)

    async def with_connection(self, fn: Callable[[PostgresTx], Awaitable[tuple[T, bool]]]) -> T:
        """Run ``fn`` on a pooled connection, not in a transaction (``fn`` owns its transactions;
        a statement alone is one), again if it loses a race. ``fn`` returns (result, whether
        deliveries may have become due)."""
        pool = self._require_pool()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with pool.acquire() as conn:
                    result, wake = await fn(PostgresTx(conn, self.claims))
            except RACES as exc:
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

    async def wait_for_work(self, timeout: float) -> None:
        self.listener.ensure_started()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool. Not asyncpg's default (RESET ALL,
    UNLISTEN *, ... — a round trip on every release): this store leaves no session state behind
    (the listener has its own connection), at most a transaction interrupted by a cancellation."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
