"""Named SQL: written once, in each database's form, and every statement is valid on its database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from hookline.clock import SystemClock
from hookline.store import postgres_store, sqlite_store
from hookline.store.queries import compile_sql, load, parse

WRITTEN_ONCE = "SELECT * FROM jobs j WHERE j.id = ANY(:ids) AND j.status <> ALL(:done) AND j.provider = :provider "
WRITTEN_ONCE += "AND j.origin = :provider FOR UPDATE OF j SKIP LOCKED"


def test_the_headers_name_the_statements_and_comments_are_dropped() -> None:
    script = "-- the file's header\n\n-- name: one\n-- what it is for\nSELECT 1\n\n-- name: two\nSELECT 2;\n"
    assert parse(script) == {"one": "SELECT 1", "two": "SELECT 2;"}


def test_sqlite_gets_json_arrays_numbered_parameters_and_no_row_locks() -> None:
    found = compile_sql(WRITTEN_ONCE, "sqlite")
    assert found.text == (
        "SELECT * FROM jobs j WHERE j.id IN (SELECT value FROM json_each(?1)) "
        "AND j.status NOT IN (SELECT value FROM json_each(?2)) AND j.provider = ?3 AND j.origin = ?3"
    )
    assert found.names == ("ids", "done", "provider")


def test_postgresql_gets_numbered_parameters_and_keeps_its_casts() -> None:
    found = compile_sql("SELECT :a::text[], :b, :a", "postgres")
    assert (found.text, found.names) == ("SELECT $1::text[], $2, $1", ("a", "b"))


def test_every_named_statement_prepares_on_sqlite(tmp_path: Path) -> None:
    import asyncio

    async def create() -> None:
        store = sqlite_store(tmp_path / "hookline.db", clock=SystemClock())
        await store.open()
        await store.close()

    asyncio.run(create())
    conn = sqlite3.connect(tmp_path / "hookline.db")
    for name, statement in load("sqlite").items():
        for text in statement.text.split(";\n"):  # release_stale_leases is three statements
            try:
                conn.execute("EXPLAIN " + text, [None] * len(statement.names) if "?" in text else [])
            except sqlite3.Error as exc:
                pytest.fail(f"{name}: {exc}")


@pytest.mark.postgres
async def test_every_named_statement_prepares_on_postgresql(pg_url: str) -> None:
    store = postgres_store(pg_url, clock=SystemClock())
    await store.open()
    await store.close()
    conn = await asyncpg.connect(pg_url)
    try:
        for name, statement in load("postgres").items():
            try:
                await conn.prepare(statement.text)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"{name}: {exc}")
    finally:
        await conn.close()
