"""SQLite backend (the embedded default)."""

from hookline.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
