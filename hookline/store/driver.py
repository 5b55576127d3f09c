"""What the store asks of a database: the ``Driver`` protocol both backends implement.

A driver opens, migrates, pings and closes its database; reads by statement name (see
``queries``); and runs *write units*: ``async def unit(tx) -> result``, the domain logic written
once (``receiving``, ``subscriptions``, ``deliveries``, ``work``, ...), which reach the database
only through :class:`Tx`: in SQLite's group-committed writer, or in a PostgreSQL transaction of
its own. Each driver wraps its database's errors once, here, into
:class:`~hookline.errors.StoreError`; units raise only hookline errors. Rows are read by column
name (``row["job_id"]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from hookline.fanout import SubscriptionSet
from hookline.models import Claim, Completion

T = TypeVar("T")
Row = Any  # sqlite3.Row or asyncpg.Record: read by column name
Params = dict[str, Any]
Columns = tuple[str, ...]  # the names of the values of a row written in bulk (see ``rows``)


class Tx(Protocol):
    """A write unit's open transaction. ``wake`` is set by a unit that made deliveries due;
    ``claims`` are the driver's delivery leases."""

    wake: bool

    @property
    def claims(self) -> Claims: ...

    async def fetch(self, name: str, /, **params: Any) -> list[Row]: ...

    async def fetch_one(self, name: str, /, **params: Any) -> Row | None: ...

    async def execute(self, name: str, /, **params: Any) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    async def many(self, name: str, columns: Columns, rows: list[tuple[Any, ...]], /) -> None:
        """Run a statement for every row, its parameters taken by name: ``columns`` names the
        values of each row. One ``executemany`` on SQLite, one statement over arrays on PostgreSQL."""
        ...

    async def lock(self, name: str, /, **params: Any) -> None:
        """Take the locks statement ``name`` takes (PostgreSQL); nothing on SQLite's one writer."""
        ...

    async def fanout_subscriptions(self, job_ids: list[str]) -> SubscriptionSet:
        """The enabled subscriptions that may receive events of these jobs."""
        ...

    def subscriptions_changed(self) -> None:
        """Say the unit changed a subscription (a driver that caches them forgets them)."""
        ...


Unit = Callable[[Tx], Awaitable[T]]
BatchUnit = Callable[[Tx, list[Any]], Awaitable[list[Any]]]


class Claims(Protocol):
    """Delivery leases, where the databases differ most: SQLite keeps them in memory (one process
    owns the file); PostgreSQL keeps them in rows claimed with SKIP LOCKED by functions that save
    round trips. Both backends name this ``claims.py``."""

    async def claim(self, owner: str, limit: int, now: float, lease: float, per_subscription: int) -> list[Claim]: ...

    def complete(self, completion: Completion, now: float, disable_after: float) -> Awaitable[str | None]: ...

    async def release(self, owner: str, delivery_ids: list[str]) -> None: ...

    async def busy(self, tx: Tx, delivery_id: str, now: float) -> bool:
        """Whether a dispatcher holds a live lease on the delivery."""
        ...

    def forget(self, tx: Tx, delivery_id: str) -> None:
        """Drop the delivery's lease (an operator's retry): a late result must not undo the retry."""
        ...


class Driver(Protocol):
    @property
    def claims(self) -> Claims: ...

    async def open(self, *, migrate: bool) -> None:
        """Connect, refuse a schema newer than this code (SchemaTooNew), migrate if asked."""
        ...

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        ...

    async def migrate(self) -> tuple[int, int]: ...

    async def ping(self) -> None: ...

    async def fetch(self, query: str, /, **params: Any) -> list[Row]:
        """Read with a named statement, or with SQL text in the named-parameter form."""
        ...

    async def write(self, unit: Unit[T]) -> T:
        """Run ``unit``; return once its writes are committed."""
        ...

    def batched(self, unit: BatchUnit, item: Any) -> Awaitable[Any]:
        """Run ``unit`` over this item and whatever other items with the same unit are waiting:
        one transaction, one commit (group commit); return this item's result."""
        ...

    async def wait_for_work(self, timeout: float) -> None: ...
