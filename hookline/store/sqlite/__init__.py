"""The SQLite backend (the embedded default)."""

from __future__ import annotations

from pathlib import Path

from hookline.clock import Clock
from hookline.store.sqlite.driver import SqliteDriver
from hookline.store.store import Store


class SqliteStore(Store):
    """The store on a SQLite file. ``exclusive=False`` lets a short-lived command (``hookline
    info``) use a file that a running server holds."""

    def __init__(self, path: Path, *, clock: Clock, exclusive: bool = True) -> None:
        super().__init__(SqliteDriver(path, clock=clock, exclusive=exclusive), clock)


__all__ = ["SqliteStore"]
