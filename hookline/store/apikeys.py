"""API keys as write units (see ``driver``; the key and its stored form: ``hookline.apikeys``)."""

from __future__ import annotations

from hookline.apikeys import ApiKey
from hookline.errors import NotFound
from hookline.store import rows
from hookline.store.driver import Tx

MAX_LISTED = 1000  # keys ``GET /v1/api-keys`` lists


async def create(tx: Tx, key: ApiKey) -> ApiKey:
    """Store a new key (its hash; the caller shows the key itself once)."""
    await tx.execute(
        "insert_api_key",
        **rows.params(key, "id", "name", "key_hash", "prefix", "created_at", "expires_at"),
        scopes=rows.dumps(list(key.scopes)),
    )
    return key


async def revoke(tx: Tx, key_id: str, now: float) -> None:
    """Revoke the key at once. Raises NotFound for an unknown or already revoked key."""
    if await tx.execute("revoke_api_key", id=key_id, now=now) == 0:
        raise NotFound(f"no API key {key_id!r}")
