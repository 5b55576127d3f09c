"""The PostgreSQL backend (asyncpg): for running several hookline processes on one database."""

from __future__ import annotations

from hookline.clock import Clock
from hookline.store.postgres.driver import PostgresDriver
from hookline.store.store import Store


class PostgresStore(Store):
    """The store on a PostgreSQL database (``dsn``), with a pool of up to ``max_connections``."""

    def __init__(self, dsn: str, *, clock: Clock, min_connections: int = 1, max_connections: int = 10) -> None:
        self.pg = PostgresDriver(dsn, clock=clock, min_connections=min_connections, max_connections=max_connections)
        super().__init__(self.pg, clock)

    async def listening(self, timeout: float = 5.0) -> bool:
        """Start listening for other processes' new deliveries now; True once listening."""
        return await self.pg.listener.wait_connected(timeout)


__all__ = ["PostgresStore"]
