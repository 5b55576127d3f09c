"""Retention and erasure, as write units (see ``driver``): deleting jobs with everything that hangs
off them, and pruning what is older than ``HOOKLINE_RETENTION``.

A job goes whole, children first, in one transaction: attempts, deliveries, events, callbacks,
its upstream work (archive, submission, poll lease), its one-off subscription, then the job. Its
archived image files are not the store's: the unit returns the SHA-256 of each file that no
remaining job's archive names (content-addressed files may be shared), and the caller removes them
once the transaction committed.

Retention never deletes a non-terminal job, a pending delivery, or what one of them still needs:
``prune_jobs`` takes only terminal jobs with no pending delivery and no archive being worked on (a job
keeps its events and callbacks until it goes); ``prune_deliveries`` takes finished deliveries of
the jobs that stay; each :class:`Sweep` deletes rows nothing refers to. Every unit is one small
batch (``limit``) so the SQLite writer is never held for long; on PostgreSQL the rows are taken
with ``SKIP LOCKED`` (jobs first, the order every writer locks in), so a batch never waits for
ingest or a claim, and never makes one wait for more than its own short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from hookline.errors import InputError
from hookline.store.driver import Row, Tx

KINDS = ("jobs", "callbacks", "events", "deliveries", "attempts", "subscriptions", "archived_images")


@dataclass(frozen=True, slots=True)
class Sweep:
    """A table retention empties on its own: ``statement`` (named SQL) deletes at most ``:limit``
    rows that last changed before ``:cutoff`` and that nothing refers to. ``keep_for`` is their
    age limit in seconds; None means ``HOOKLINE_RETENTION``."""

    kind: str
    statement: str
    keep_for: float | None = None


# A further kind of row to prune is one line here, with its statement in sql/common.sql.
SWEEPS: list[Sweep] = [
    Sweep("callbacks", "prune_callbacks"),
    Sweep("events", "prune_operational_events"),
    # expires_at already counts the 24 h an answer is kept (see ``idempotency``)
    Sweep("idempotency_keys", "prune_idempotency_keys", keep_for=0.0),
]


@dataclass(slots=True)
class Removed:
    """What was (or, in a dry run, would be) deleted: rows by kind, and the archived files that
    no remaining job refers to (their SHA-256; ``archived_images`` counts the files removed)."""

    counts: dict[str, int] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)

    def count(self, kind: str, n: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def add(self, other: Removed) -> None:
        for kind, n in other.counts.items():
            self.count(kind, n)
        self.files |= other.files

    @property
    def rows(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != "archived_images")


class DryRun(InputError):
    """Raised by a unit to roll its deletions back after counting them (``hookline prune --dry-run``)."""

    def __init__(self, removed: Removed) -> None:
        super().__init__("dry run: rolled back")
        self.removed = removed


async def delete_jobs(tx: Tx, ids: list[str]) -> Removed:
    """Delete these (locked) jobs with everything that hangs off them. Their pending deliveries
    are cancelled: gone, and their leases forgotten, so a dispatcher sending one right now records
    nothing when it finishes."""
    removed = Removed()
    if not ids:
        return removed
    for row in await tx.fetch("pending_deliveries_of_jobs", ids=ids):
        tx.claims.forget(tx, row["id"])
    files = {image["sha256"] for r in await tx.fetch("archived_images_of_jobs", ids=ids) for image in _images(r)}
    for kind, name in (
        ("attempts", "erase_attempts_of_jobs"),
        ("deliveries", "erase_deliveries_of_jobs"),
        ("events", "erase_events_of_jobs"),
        ("callbacks", "erase_callbacks_of_jobs"),
    ):
        removed.count(kind, await tx.execute(name, ids=ids))
    for name in ("erase_archives_of_jobs", "erase_submissions_of_jobs", "erase_polls_of_jobs"):
        await tx.execute(name, ids=ids)
    one_offs = await tx.execute("erase_subscriptions_of_jobs", ids=ids)  # made from a callback_url
    removed.count("subscriptions", one_offs)
    if one_offs:
        tx.subscriptions_changed()
    removed.count("jobs", await tx.execute("erase_jobs", ids=ids))
    if files:
        found = await tx.fetch("archive_images_in_use", patterns=[f"%{sha}%" for sha in sorted(files)])
        files -= {image["sha256"] for r in found for image in _images(r)}
    removed.files = files
    return removed


def _images(row: Row) -> list[dict[str, str]]:
    images: list[dict[str, str]] = orjson.loads(row["images"])
    return images


async def erase(tx: Tx, job_ids: list[str]) -> Removed:
    """Delete the jobs of ``job_ids`` that exist (locked first, in id order), with their callbacks,
    events, deliveries (pending ones cancelled), attempts, upstream work and one-off subscriptions.
    ``files`` of the result are the archived images no remaining job refers to: the caller removes
    them."""
    locked = [r["id"] for r in await tx.fetch("lock_jobs", ids=sorted(set(job_ids)))]
    return await delete_jobs(tx, locked)


async def prune_jobs(tx: Tx, cutoff: float, limit: int) -> Removed:
    """One batch of retention: up to ``limit`` terminal jobs unchanged since ``cutoff`` that no
    pending delivery or archive needs, deleted whole (see ``erase``)."""
    ids = [r["id"] for r in await tx.fetch("prunable_jobs", cutoff=cutoff, limit=limit)]
    if ids:
        ids = [r["id"] for r in await tx.fetch("still_prunable", ids=ids, cutoff=cutoff)]
    removed = await delete_jobs(tx, ids)
    removed.count("jobs", 0)  # a batch with nothing to do still says so
    return removed


async def prune_deliveries(tx: Tx, cutoff: float, limit: int) -> Removed:
    """One batch: up to ``limit`` delivered or dead deliveries unchanged since ``cutoff``, with their attempts."""
    removed = Removed()
    ids = [r["id"] for r in await tx.fetch("prunable_deliveries", cutoff=cutoff, limit=limit)]
    removed.count("deliveries", 0)
    if ids:
        removed.count("attempts", await tx.execute("prune_attempts_of", ids=ids))
        removed.count("deliveries", await tx.execute("prune_deliveries", ids=ids))
    return removed


async def sweep(tx: Tx, step: Sweep, cutoff: float, limit: int) -> Removed:
    """One batch of ``step`` (see ``SWEEPS``)."""
    removed = Removed()
    removed.count(step.kind, await tx.execute(step.statement, cutoff=cutoff, limit=limit))
    return removed


async def dry_run(tx: Tx, cutoff: float, sweeps: list[tuple[Sweep, float]]) -> None:
    """Prune everything before ``cutoff`` (each sweep before its own cutoff), count it, and raise
    :class:`DryRun` to roll it all back."""
    everything = 2**62
    removed = await prune_jobs(tx, cutoff, everything)
    removed.add(await prune_deliveries(tx, cutoff, everything))
    for step, swept in sweeps:
        removed.add(await sweep(tx, step, swept, everything))
    raise DryRun(removed)
