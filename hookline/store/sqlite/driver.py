"""The SQLite driver: the embedded default.

One writer connection (raw sqlite3), owned by a group-commit task, runs every write unit; its
statements execute on the event loop thread (short B-tree operations: a unit's awaits never
suspend) and each batch's COMMIT, the fsync, on a dedicated thread while the loop reads the
requests of the next batch (committing on the loop thread made the backlog grow at a steady
1,000 callbacks/s). Each unit runs in a savepoint, so one that fails on bad input fails alone.
Reads go through a small pool of aiosqlite connections beside the writer (WAL).

One process uses a SQLite file (a lock file enforces it), so delivery leases live in memory
(``claims``) and upstream queue leases a killed process left are released at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from functools import lru_cache, partial
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

from hookline.callthread import CallThread
from hookline.clock import Clock
from hookline.errors import InputError, StoreError
from hookline.fanout import SubscriptionSet
from hookline.store import migrations, rows
from hookline.store.driver import BatchUnit, Columns, Params, Row, Unit
from hookline.store.groupcommit import Failed, GroupCommitter, Op
from hookline.store.queries import resolver
from hookline.store.sqlite.claims import Leases, SqliteClaims

log = logging.getLogger(__name__)
T = TypeVar("T")
READERS = 3
UPSTREAM_SCHEMA = 2  # the migration that made the upstream queues' tables (and their leases)
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -32000",
)
statement = resolver("sqlite")

# sqlite3 adapts every parameter that is not exactly an int, float, str or bytearray — None and
# bytes too — by looking for ``__adapt__`` and ``__conform__`` on it: ~3 k instructions each, and a
# callback's rows and a delivery's carry several NULLs and BLOBs (callgrind). An adapter registered
# for the type is found first, in one dict lookup. Both bind what sqlite3 binds anyway (NULL, the
# same bytes as a BLOB), for every connection of the process.
_NO_ADAPTATION: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NO_ADAPTATION.get)
sqlite3.register_adapter(bytes, bytearray)


@lru_cache(maxsize=256)
def picker(names: tuple[str, ...], columns: Columns) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    """What turns a row of ``columns`` into the values of parameters ``names``; None when it is
    already that (the usual case: the statement lists the columns in the same order)."""
    if names == columns:
        return None
    at = [columns.index(name) for name in names]
    return itemgetter(*at) if len(at) > 1 else lambda row: (row[at[0]],)


def _bind(query: str, params: Params) -> tuple[str, tuple[Any, ...]]:
    """The statement and its values; lists travel as JSON (``= ANY(:ids)`` became a ``json_each``)."""
    found = statement(query)
    values = (params[name] for name in found.names)
    return found.text, tuple(orjson.dumps(v).decode() if isinstance(v, list) else v for v in values)


class SqliteTx:
    """The writer's open transaction, as a unit sees it (see ``driver.Tx``)."""

    def __init__(self, driver: SqliteDriver, conn: sqlite3.Connection) -> None:
        self.driver = driver
        self.claims = driver.claims
        self.conn = conn
        self.wake = False

    async def fetch(self, name: str, /, **params: Any) -> list[Row]:
        return self.conn.execute(*_bind(name, params)).fetchall()

    async def fetch_one(self, name: str, /, **params: Any) -> Row | None:
        row: Row | None = self.conn.execute(*_bind(name, params)).fetchone()
        return row

    async def execute(self, name: str, /, **params: Any) -> int:
        return self.conn.execute(*_bind(name, params)).rowcount

    async def many(self, name: str, columns: Columns, rows: list[tuple[Any, ...]], /) -> None:
        found = statement(name)
        pick = picker(found.names, columns)
        self.conn.executemany(found.text, rows if pick is None else map(pick, rows))

    async def lock(self, name: str, /, **params: Any) -> None:
        """One writer: nothing to lock."""

    async def fanout_subscriptions(self, job_ids: list[str]) -> SubscriptionSet:
        """Every enabled subscription, cached: one process owns the file, so every change goes
        through this writer, which forgets the cache whenever a unit touches a subscription."""
        if self.driver.subscriptions is None:
            found = self.conn.execute(statement("enabled_subscriptions").text).fetchall()
            self.driver.subscriptions = SubscriptionSet(rows.subscription(r) for r in found)
        return self.driver.subscriptions

    def subscriptions_changed(self) -> None:
        self.driver.subscriptions = None


class SqliteDriver:
    def __init__(self, path: Path, *, clock: Clock, exclusive: bool = True) -> None:
        self.path = path
        self.exclusive = exclusive
        self.clock = clock
        self.subscriptions: SubscriptionSet | None = None
        self.claims = SqliteClaims(self)
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._committer = GroupCommitter(self._run_batch, name="sqlite-writer")
        self._commit_thread = CallThread("sqlite-commit")
        self._wake = asyncio.Event()

    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.exclusive:
                self._take_file_lock()
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
            conn.execute(statement("create_migrations").text)
            known = migrations.discover("hookline.store.sqlite")
            migrations.check_not_newer(self._schema_version(), known, str(self.path))
            if migrate:
                self._migrate(known)
            if self.exclusive and self._schema_version() >= UPSTREAM_SCHEMA:
                # We are the only process: leases left behind are stale. (Before ``hookline
                # migrate`` ran, the tables they live in may not exist yet.)
                conn.executescript(statement("release_stale_leases").text)
            for _ in range(READERS):
                reader = await aiosqlite.connect(self.path)
                reader.row_factory = sqlite3.Row
                await reader.execute("PRAGMA busy_timeout = 5000")
                await reader.execute("PRAGMA query_only = 1")
                self._all_readers.append(reader)
                self._readers.put_nowait(reader)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open the SQLite database {self.path}: {exc}") from exc
        self._committer.start()

    def _take_file_lock(self) -> None:
        fd = os.open(Path(str(self.path) + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
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
        return int(self._conn.execute(statement("schema_version").text).fetchone()["version"])

    def _migrate(self, known: list[migrations.Migration]) -> tuple[int, int]:
        conn = self._conn
        assert conn is not None
        before = self._schema_version()
        for migration in migrations.pending(before, known):
            log.info("applying migration %04d_%s", migration.version, migration.name)
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}")
                params = {"version": migration.version, "name": migration.name, "now": self.clock.now()}
                conn.execute(*_bind("record_migration", params))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return before, self._schema_version()

    async def migrate(self) -> tuple[int, int]:
        try:
            return self._migrate(migrations.discover("hookline.store.sqlite"))
        except sqlite3.Error as exc:
            raise StoreError(f"migrating {self.path} failed: {exc}") from exc

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self._committer.close()
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._commit_thread.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def ping(self) -> None:
        await self.fetch("SELECT 1")

    # reads -----------------------------------------------------------------------------------
    async def fetch(self, query: str, /, **params: Any) -> list[Row]:
        conn = await self._readers.get()
        try:
            return list(await conn.execute_fetchall(*_bind(query, params)))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc
        finally:
            self._readers.put_nowait(conn)

    # writes ----------------------------------------------------------------------------------
    async def write(self, unit: Unit[T]) -> T:
        result: T = await self._committer.submit("call", unit)
        return result

    def batched(self, unit: BatchUnit, item: Any) -> Awaitable[Any]:
        return self._committer.submit(unit, item)  # not a coroutine of its own: a frame less per item

    async def wait_for_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _run_batch(self, ops: list[Op]) -> list[Any]:
        conn = self._conn
        assert conn is not None
        leases = dict(self.claims.leases)
        tx = SqliteTx(self, conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                results = await self._apply(ops, tx)
                await self._commit_thread.run(partial(conn.execute, "COMMIT"))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self.claims.leases = Leases(leases)
                self.subscriptions = None
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc
        if tx.wake:
            self._wake.set()
        return results

    async def _apply(self, ops: list[Op], tx: SqliteTx) -> list[Any]:
        """Run the batch's units in order: a run of ops of one batch unit together, each other
        unit in a savepoint of its own."""
        results: list[Any] = []
        for kind, group in groupby(ops, key=attrgetter("kind")):
            if kind != "call":
                results.extend(await kind(tx, [op.payload for op in group]))
                continue
            for op in group:
                results.append(await self._call(op.payload, tx))
        return results

    async def _call(self, unit: Unit[Any], tx: SqliteTx) -> Any:
        tx.conn.execute("SAVEPOINT op")
        try:
            result = await unit(tx)
        except InputError as exc:
            tx.conn.execute("ROLLBACK TO op")
            tx.conn.execute("RELEASE op")
            self.subscriptions = None
            return Failed(exc)
        tx.conn.execute("RELEASE op")
        return result
