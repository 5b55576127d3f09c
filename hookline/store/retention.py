"""Retention and erasure, as write units (see ``driver``; the policy: ``hookline.retention``).

A job goes whole, children first, in one transaction: attempts, deliveries, events, callbacks,
its upstream work, its one-off subscription, then the job. Its archived files are not the store's:
the unit returns the SHA-256 of each file no remaining job's archive names (files may be shared),
and the caller removes them once the transaction committed.

Retention never deletes a non-terminal job, a pending delivery, or what one still needs. Each unit
is one small batch (``limit``) so the SQLite writer is never held for long; on PostgreSQL rows are
taken with ``SKIP LOCKED`` (jobs first, the order every writer locks in), so a batch never waits
for ingest or a claim.
"""

from __future__ import annotations

import orjson

from hookline.pruning import DryRun, Removed, Sweep
from hookline.store.driver import Row, Tx


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
