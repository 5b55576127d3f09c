"""Wake-ups across processes: LISTEN on a dedicated connection.

A transaction that makes deliveries due runs ``NOTIFY`` (delivered to every listener when it
commits), so a dispatcher in any process starts sending at once instead of at its next poll. The
listening connection is opened on first use (a receiver never waits for work, so it never holds
one). If it is lost, :class:`Listener` wakes its waiters (notifications may have been missed, so
they should look for work) and reconnects with backoff; meanwhile the dispatcher's polling carries
on. Polling stays the fallback in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

CHANNEL = "hookline_deliveries"  # the NOTIFY of the statement `notify`

log = logging.getLogger(__name__)
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class Listener:
    """Sets ``wake`` whenever a notification arrives on ``CHANNEL`` (and when the listening
    connection is lost or regained)."""

    def __init__(self, dsn: str, wake: asyncio.Event, *, safe_dsn: str) -> None:
        self._dsn = dsn
        self._safe_dsn = safe_dsn  # for logs: never the password
        self._wake = wake
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._was_connected = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def ensure_started(self) -> None:
        """Start listening in the background, unless already listening or reconnecting."""
        if self._closed or self.connected or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self._connect_loop(), name="pg-listener")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)

    async def _connect_loop(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                conn.add_termination_listener(self._lost)
                await conn.add_listener(CHANNEL, self._notified)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning(
                    "cannot LISTEN on %s (%s: %s); retrying in %g s", self._safe_dsn, type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            self._conn = conn
            if self._was_connected:
                log.info("listening for new deliveries again")
                # Anything committed while we were not listening went unnoticed: look now.
                self._wake.set()
            self._was_connected = True
            return

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    def _lost(self, lost: Any) -> None:
        conn = self._conn
        if conn is None or lost is not conn:
            return
        self._conn = None
        # Release the dead connection now: left for the garbage collector, asyncpg warns that it
        # was never closed.
        with contextlib.suppress(Exception):
            conn.terminate()
        self._wake.set()
        if not self._closed:
            log.warning("lost the LISTEN connection to %s; reconnecting", self._safe_dsn)
            self._task = asyncio.create_task(self._connect_loop(), name="pg-listener")
