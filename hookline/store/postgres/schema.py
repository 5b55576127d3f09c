"""Schema versions on PostgreSQL: check and migrate under a session advisory lock.

Every process that starts runs :func:`prepare`; the lock makes processes that start together take
turns, so exactly one applies each pending migration and the others find it applied. Each
migration runs in its own transaction together with its ``schema_migrations`` row.
"""

from __future__ import annotations

import logging

import asyncpg

from hookline.store import migrations
from hookline.store.postgres import sql

log = logging.getLogger(__name__)
PACKAGE = "hookline.store.postgres"


async def prepare(conn: asyncpg.Connection, where: str, *, migrate: bool) -> tuple[int, int]:
    """Refuse a schema newer than this code (SchemaTooNew, naming ``where``); apply the pending
    migrations if ``migrate``. Returns (version before, version after)."""
    known = migrations.discover(PACKAGE)
    await conn.execute("SELECT pg_advisory_lock($1)", sql.MIGRATION_LOCK)
    try:
        await conn.execute(sql.CREATE_MIGRATIONS)
        before = int(await conn.fetchval(sql.SCHEMA_VERSION))
        migrations.check_not_newer(before, known, where)
        if migrate:
            for migration in migrations.pending(before, known):
                log.info("applying migration %04d_%s", migration.version, migration.name)
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(sql.RECORD_MIGRATION, migration.version, migration.name)
        return before, int(await conn.fetchval(sql.SCHEMA_VERSION))
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", sql.MIGRATION_LOCK)
