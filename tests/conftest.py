"""Shared fixtures: a store over every backend (SQLite file; PostgreSQL on 127.0.0.1:5432 with a
fresh database per test), a running hookline, and a subscriber server."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookline.clock import ManualClock, SystemClock
from hookline.config import Config
from hookline.store import Store, open_store
from tests.support import SCHEMA_VIOLATIONS, HooklineProcess, Subscriber, run_server

PG_ADMIN_DSN = os.environ.get("HOOKLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _pg_available() -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@contextlib.asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards). Skips the test when the server is
    unreachable, except in CI, where it fails."""
    problem = await _pg_available()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN_DSN}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {problem}")
    import asyncpg

    name = f"hookline_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database URL for one test."""
    async with fresh_pg_database() as url:
        yield url


# Modules whose tests take 5-50 s each (schemathesis, SIGKILL, several processes, the browser): run
# first, so that with two pytest processes neither is left with one of them at the end.
LONG_FIRST = (
    "tests/hookline/test_openapi.py",
    "tests/hookline/test_openapi_scopes.py",
    "tests/dispatcher/test_crash_delivery.py",
    "tests/test_multiprocess.py",
    "tests/test_durability.py",
    "tests/test_rate_limit_multiprocess.py",
    "tests/dispatcher/test_slots.py",
    "tests/upstream/test_commands.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """A suite started in the background (``&`` in a script, a CI runner) inherits SIGINT ignored,
    and so would every process a test starts: the tests of what Ctrl-C does would see none. Give the
    tests, and through them their processes, the Ctrl-C a terminal gives."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the long modules first (``LONG_FIRST``). Set a test's database up before its servers, so
    that they stop before it is dropped (fixtures are torn down in the reverse order of their set-up)."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONG_FIRST)  # stable: the rest keep their order
    for item in items:
        names: list[str] | None = getattr(item, "fixturenames", None)
        if not names or "hookline_factory" not in names:
            continue
        for name in ("pg_url", "database_url"):
            if name in names:
                names.remove(name)
                names.insert(0, name)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL for each backend: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hookline.db'}"
    else:
        async with fresh_pg_database() as url:
            yield url


def make_config(database_url: str, tmp_path: Path, **env: str) -> Config:
    base = {
        "HOOKLINE_DATABASE_URL": database_url,
        "HOOKLINE_DATA_DIR": str(tmp_path / "data"),
        "HOOKLINE_ADMIN_TOKEN": "admin-token-for-tests-0123456789",
        "HOOKLINE_CALLBACK_TOKEN": "callback-token-for-tests-0123456789",
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
        # The fixtures' result links point at the real Discord CDN: tests that archive turn it on.
        "HOOKLINE_ARCHIVE": "false",
    }
    base.update({k if k.startswith("HOOKLINE_") else f"HOOKLINE_{k}": v for k, v in env.items()})
    return Config.from_env(base)


@pytest.fixture(autouse=True)
def _no_server_outlives_its_test() -> Iterator[None]:
    """A test that fails between starting a hookline process and stopping it must not leave the
    process running (it would hold its port and its CPU for the rest of the suite and after)."""
    yield
    for process in list(HooklineProcess.running):
        process.stop()


@pytest.fixture(autouse=True)
def _every_delivered_event_matches_its_schema() -> Iterator[None]:
    """Every event a test Subscriber receives validates against its type's schema (see
    ``tests/support.py``): a test whose events break the catalogue fails."""
    SCHEMA_VIOLATIONS.clear()
    yield
    found, SCHEMA_VIOLATIONS[:] = list(SCHEMA_VIOLATIONS), []
    if found:
        pytest.fail("events broke their schema (GET /v1/event-types):\n" + "\n".join(found[:20]))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(database_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    """An open store on a fresh database, with the wall clock."""
    s = open_store(make_config(database_url, tmp_path), clock=SystemClock())
    await s.open()
    try:
        yield s
    finally:
        await s.close()


class Hookline:
    """A running hookline (real uvicorn on loopback) and clients for it."""

    def __init__(self, url: str, app: Any, config: Config) -> None:
        self.url = url
        self.app = app
        self.config = config
        self.rt = app.state.runtime
        self.admin = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {config.admin_token}"}, timeout=30
        )
        self.anon = httpx.AsyncClient(base_url=url, timeout=30)

    def callback_path(self, provider: str) -> str:
        return f"/callbacks/{provider}/{self.config.callback_token}"

    async def post_callback(self, provider: str, body: bytes) -> httpx.Response:
        return await self.anon.post(
            self.callback_path(provider), content=body, headers={"content-type": "application/json"}
        )

    async def close(self) -> None:
        await self.admin.aclose()
        await self.anon.aclose()


@pytest.fixture
async def hookline_factory(tmp_path: Path) -> AsyncIterator[Any]:
    """Start hookline servers: ``await hookline_factory(database_url, clock=..., **env)``."""
    from hookline.app import build_app

    stack = contextlib.AsyncExitStack()

    async def start(database_url: str, *, clock: Any = None, **env: str) -> Hookline:
        config = make_config(database_url, tmp_path, **env)
        app = build_app(config, clock=clock, access_log=False, shutdown_grace=2.0)
        url = await stack.enter_async_context(run_server(app))
        h = Hookline(url, app, config)
        stack.push_async_callback(h.close)
        return h

    async with stack:
        yield start


@pytest.fixture
async def hookline(hookline_factory: Any, database_url: str) -> Hookline:
    """hookline on each backend."""
    h: Hookline = await hookline_factory(database_url)
    return h


@pytest.fixture
async def subscriber() -> AsyncIterator[tuple[Subscriber, str]]:
    """A recording webhook endpoint: (subscriber, its base URL)."""
    sub = Subscriber()
    async with run_server(sub.app(), lifespan="off") as url:
        yield sub, url
