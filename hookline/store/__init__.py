"""The store: ``Store`` (the domain methods, written once) over a driver per database."""

from __future__ import annotations

from pathlib import Path

from hookline.clock import Clock, SystemClock
from hookline.config import Config, sqlite_path
from hookline.store.store import Store


def sqlite_store(path: Path, *, clock: Clock, exclusive: bool = True) -> Store:
    """The store on the SQLite file ``path``. ``exclusive=False`` lets a short-lived command
    (``hookline info``) use a file that a running server holds."""
    from hookline.store.sqlite.driver import SqliteDriver

    return Store(SqliteDriver(path, clock=clock, exclusive=exclusive), clock)


def postgres_store(dsn: str, *, clock: Clock, max_connections: int = 10) -> Store:
    """The store on the PostgreSQL database ``dsn``, with a pool of up to ``max_connections``."""
    from hookline.store.postgres.driver import PostgresDriver

    return Store(PostgresDriver(dsn, clock=clock, max_connections=max_connections), clock)


def open_store(config: Config, *, clock: Clock | None = None, exclusive: bool = True) -> Store:
    """The backend ``config.database_url`` names (not yet opened: call ``await store.open()``)."""
    clock = clock or SystemClock()
    if config.is_postgres:
        return postgres_store(config.database_url, clock=clock)
    return sqlite_store(sqlite_path(config.database_url), clock=clock, exclusive=exclusive)


__all__ = ["Store", "open_store", "postgres_store", "sqlite_store"]
