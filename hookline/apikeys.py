"""API keys (issue 15): what one is, and the form it is stored in.

The key itself is never stored: :func:`key_hash` (SHA-256, hex) is, and a request's key is found
by its hash. Keys are 256 random bits, so a fast hash loses nothing to guessing; the row found is
compared again in constant time before it counts (see ``hookline.api.auth``). Every lookup reads
the database, so a revocation holds at once in every process that shares it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from hookline.clock import isoformat


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
