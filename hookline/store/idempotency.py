"""Idempotency keys, as write units (see ``driver``): claim a key for a request, keep its answer,
give the key back when the request failed, prune the dead ones.

A row per (credential, key) is the whole state, so it holds across processes on PostgreSQL: the
first request *claims* the key (an insert, or the takeover of a dead row, in one statement that
concurrent claims serialise on) and holds it under a random ``owner`` token until its lock runs
out; the request extends the lock while it runs, so a request that crashed frees its key within
one lock period. Once answered, the row keeps the answer until 24 h later. Every later claim with
the same key reads the row instead: the same request (fingerprint) gets the answer replayed, or
learns that the first one is still running; another request is told that the key is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hookline.store.driver import Tx

ANSWER_TTL = 24 * 3600.0  # how long an answer is replayed

ClaimState = Literal["claimed", "replay", "in_use", "reused"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as first answered: replayed as it is."""

    status: int
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """What a request may do with its key. ``claimed``: run, then ``save_idempotent_answer`` (or
    ``release_idempotency_key``) with ``owner``; ``replay``: send ``answer``; ``in_use``: the first
    request with the key is still running; ``reused``: the key was used for another request."""

    state: ClaimState
    answer: Answer | None = None


async def claim(tx: Tx, credential: str, key: str, fingerprint: str, owner: str, now: float, lock: float) -> KeyClaim:
    """Claim ``credential``'s ``key`` for the request ``fingerprint`` under the token ``owner``,
    locked for ``lock`` seconds; or say why not (its answer to replay, in use, or reused)."""
    await tx.execute(
        "claim_idempotency_key",
        credential=credential,
        key=key,
        fingerprint=fingerprint,
        owner=owner,
        now=now,
        locked_until=now + lock,
    )
    row = await tx.fetch_one("get_idempotency_key", credential=credential, key=key)
    assert row is not None  # inserted, taken over or live: it exists in this transaction
    if row["owner"] == owner:
        return KeyClaim("claimed")
    if row["fingerprint"] != fingerprint:
        return KeyClaim("reused")
    if row["status"] is None:
        return KeyClaim("in_use")
    return KeyClaim("replay", Answer(int(row["status"]), row["content_type"], bytes(row["body"] or b"")))


async def extend(tx: Tx, credential: str, key: str, owner: str, locked_until: float) -> bool:
    """Keep holding a running request's key; False when it was lost (its lock ran out and another
    request took it over)."""
    changed = await tx.execute(
        "extend_idempotency_lock", credential=credential, key=key, owner=owner, locked_until=locked_until
    )
    return changed > 0


async def save(tx: Tx, credential: str, key: str, owner: str, answer: Answer, now: float) -> bool:
    """Keep ``answer`` for 24 h; False (nothing kept) when ``owner`` lost the key meanwhile."""
    changed = await tx.execute(
        "save_idempotent_answer",
        credential=credential,
        key=key,
        owner=owner,
        status=answer.status,
        content_type=answer.content_type,
        body=answer.body,
        expires_at=now + ANSWER_TTL,
    )
    return changed > 0


async def release(tx: Tx, credential: str, key: str, owner: str) -> None:
    """Give a claimed key back unanswered (the request failed): the next request runs."""
    await tx.execute("release_idempotency_key", credential=credential, key=key, owner=owner)


async def prune(tx: Tx, now: float, limit: int) -> int:
    """Delete up to ``limit`` dead keys (answers past their 24 h, locks of crashed requests run
    out); return how many. Never waits for a key a request is claiming."""
    return await tx.execute("prune_idempotency_keys", cutoff=now, limit=limit)
