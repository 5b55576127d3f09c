"""The PostgreSQL backend (asyncpg): for running several hookline processes on one database."""

from hookline.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
