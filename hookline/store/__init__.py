"""The store: ``Store`` (the domain methods, written once) over a driver per database."""

from __future__ import annotations

from hookline.clock import Clock, SystemClock
from hookline.config import Config, sqlite_path
from hookline.store.store import Store


def open_store(config: Config, *, clock: Clock | None = None, exclusive: bool = True) -> Store:
    """The backend ``config.database_url`` names (not yet opened: call ``await store.open()``).
    ``exclusive=False`` lets a short-lived command (``hookline info``) use a SQLite file that a
    running server holds."""
    clock = clock or SystemClock()
    if config.is_postgres:
        from hookline.store.postgres import PostgresStore

        return PostgresStore(config.database_url, clock=clock)
    from hookline.store.sqlite import SqliteStore

    return SqliteStore(sqlite_path(config.database_url), clock=clock, exclusive=exclusive)


__all__ = ["Store", "open_store"]
