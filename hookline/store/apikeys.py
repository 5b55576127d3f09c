"""API keys (issue 15): made, listed, looked up by the hash of the key, revoked.

The key itself is never stored: :func:`key_hash` (SHA-256, hex) is, and a request's key is found
by its hash. Keys are 256 random bits, so a fast hash loses nothing to guessing; the row found is
compared again in constant time before it counts (see ``hookline.api.auth``). Every lookup reads
the database, so a revocation holds at once in every process that shares it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from hookline.clock import isoformat
from hookline.errors import NotFound
from hookline.store.driver import Driver, Row, Tx

MAX_KEYS_LISTED = 1000


def key_hash(key: str) -> str:
    """The stored form of ``key``: its SHA-256 in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: tuple[str, ...]
    key_hash: str
    prefix: str  # the key's first characters: enough to tell keys apart, not to use one
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_api(self) -> dict[str, Any]:
        """The key as ``GET /v1/api-keys`` shows it: never the key, nor its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "prefix": self.prefix,
            "created_at": isoformat(self.created_at),
            "expires_at": isoformat(self.expires_at),
        }


def api_key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scopes=tuple(orjson.loads(row["scopes"])),
        key_hash=row["key_hash"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


class ApiKeys:
    """The API key operations of :class:`~hookline.store.Store` (a mixin: ``driver`` is the store's)."""

    driver: Driver

    async def create_api_key(self, key: ApiKey) -> ApiKey:
        """Store a new key (its hash; the caller shows the key itself once)."""

        async def unit(tx: Tx) -> ApiKey:
            await tx.execute(
                "insert_api_key",
                id=key.id,
                name=key.name,
                scopes=orjson.dumps(list(key.scopes)).decode(),
                key_hash=key.key_hash,
                prefix=key.prefix,
                created_at=key.created_at,
                expires_at=key.expires_at,
            )
            return key

        return await self.driver.write(unit)

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key not revoked, newest first (expired ones too: they show their expiry)."""
        return [api_key(r) for r in await self.driver.fetch("live_api_keys", limit=MAX_KEYS_LISTED)]

    async def find_api_key(self, hashed: str) -> ApiKey | None:
        """The key whose hash is ``hashed``, revoked or expired ones included (the caller says
        which), or None."""
        found = await self.driver.fetch("api_key_by_hash", key_hash=hashed)
        return api_key(found[0]) if found else None

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """The key ``key_id``, revoked or expired ones included, or None."""
        found = await self.driver.fetch("api_key_by_id", id=key_id)
        return api_key(found[0]) if found else None

    async def revoke_api_key(self, key_id: str, now: float) -> None:
        """Revoke the key at once. Raises NotFound for an unknown or already revoked key."""

        async def unit(tx: Tx) -> None:
            if await tx.execute("revoke_api_key", id=key_id, now=now) == 0:
                raise NotFound(f"no API key {key_id!r}")

        await self.driver.write(unit)
