"""Retention and erasure (SPEC Part 2): the pruner, ``hookline prune``, and erasing jobs.

The pruner deletes, every ``HOOKLINE_PRUNE_INTERVAL`` seconds, what is older than
``HOOKLINE_RETENTION`` (age from a row's last change): terminal jobs whole (children first), then
finished deliveries with their attempts, then the rows of each ``hookline.pruning.SWEEPS`` entry
(callbacks nothing refers to; further kinds add one line there). Each step runs in small batches,
one short write each, with a pause between them, so ingest is never held up behind it (on SQLite
it shares the one writer; on PostgreSQL it never waits for a row another transaction holds).
Archived image files no remaining job refers to are removed after the rows that named them are
committed. ``hookline_pruned_total{kind}`` counts everything deleted.

Erasure (``DELETE /v1/jobs...``, ``hookline jobs rm``) deletes jobs the same way, whatever their
age or state, cancelling their pending deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from hookline.pruning import KINDS, SWEEPS, Removed
from hookline.runtime import Runtime
from hookline.store import Store
from hookline.worker import Worker

log = logging.getLogger(__name__)

# Measured with bench/soak.py: 50 jobs a batch (~650 rows) with 5 ms between batches made SQLite's
# ingest p99 8x worse while a run lasted; 20 (~260 rows, a few ms) with 20 ms for ingest between
# batches keeps it within 2x.
JOB_BATCH = 20  # a job goes with its callbacks, events, deliveries and attempts: ~13 rows each here
ROW_BATCH = 250
PAUSE = 0.02  # between batches: whatever queued behind one (callbacks' commits) goes first
ERASE_BATCH = 100
Progress = Callable[[str, int], None]  # (kind, rows deleted so far in this step)


def archive_file(root: Path, sha256: str) -> Path:
    """Where the archive keeps the image whose SHA-256 is ``sha256`` (``upstream.archive`` writes it)."""
    return root / sha256[:2] / sha256


def remove_files(root: Path, shas: set[str]) -> int:
    """Remove these archived images; return how many files were there."""
    removed = 0
    for sha in sorted(shas):
        try:
            archive_file(root, sha).unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:  # the rows are gone; a file left behind is only disk space
            log.warning("could not remove archived image %s: %s", sha, exc)
    return removed


def counts(removed: Removed, files: int) -> dict[str, int]:
    """The ``deleted`` object of an erasure: every kind, zeros included."""
    found = {kind: removed.counts.get(kind, 0) for kind in KINDS}
    found["archived_images"] = files
    return found


async def erase_jobs(store: Store, archive_dir: Path, job_ids: list[str]) -> dict[str, int]:
    """Erase these jobs (those that exist) with their archived files; return what was deleted."""
    removed = await store.erase_jobs(job_ids)
    return counts(removed, await asyncio.to_thread(remove_files, archive_dir, removed.files))


async def erase_matching(
    store: Store, archive_dir: Path, *, key: str | None = None, prefix: str | None = None
) -> dict[str, int]:
    """Erase every job whose correlation key is ``key`` (or starts with ``prefix``), a batch at a time."""
    total = Removed()
    files = 0
    while ids := await store.job_ids_by_key(key=key, prefix=prefix, limit=ERASE_BATCH):
        removed = await store.erase_jobs(ids)  # those erased meanwhile are skipped; the next read moves on
        total.add(removed)
        files += await asyncio.to_thread(remove_files, archive_dir, removed.files)
    return counts(total, files)


@dataclass(slots=True)
class Outcome:
    """What one run of the pruner deleted (or would), by kind."""

    counts: dict[str, int]

    def describe(self) -> str:
        shown = ", ".join(f"{n} {kind}" for kind, n in self.counts.items() if n) or "nothing"
        return shown


async def prune_once(
    store: Store,
    archive_dir: Path,
    now: float,
    retention: float,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    counted: Callable[[str, int], None] | None = None,
    pause: float = PAUSE,
) -> Outcome:
    """Delete everything retention allows, in batches; ``progress(kind, so_far)`` after each batch,
    ``counted(kind, n)`` for each batch's deletions (the metric). A dry run counts it all in one
    transaction that is rolled back (files: those its jobs' archives alone name)."""
    cutoff = now - retention
    sweeps = [(s, now - (retention if s.keep_for is None else s.keep_for)) for s in SWEEPS]
    kinds = (*KINDS, *(s.kind for s in SWEEPS if s.kind not in KINDS))
    total = dict.fromkeys(kinds, 0)
    if dry_run:
        removed = await store.prune_dry_run(cutoff, sweeps)
        for kind, n in removed.counts.items():
            total[kind] = total.get(kind, 0) + n
        total["archived_images"] = len(removed.files)
        if progress is not None:
            for kind in kinds:
                progress(kind, total[kind])
        return Outcome(total)

    def record(removed: Removed, files: int) -> None:
        for kind, n in [*removed.counts.items(), ("archived_images", files)]:
            total[kind] = total.get(kind, 0) + n
            if counted is not None and n:
                counted(kind, n)

    async def run(kind: str, batch: int, step: Callable[[int], Awaitable[Removed]]) -> None:
        while True:
            removed = await step(batch)
            record(removed, await asyncio.to_thread(remove_files, archive_dir, removed.files))
            if progress is not None:
                progress(kind, total.get(kind, 0))
            if removed.counts.get(kind, 0) < batch:
                return
            await asyncio.sleep(pause)

    await run("jobs", JOB_BATCH, partial(store.prune_jobs, cutoff))
    await run("deliveries", ROW_BATCH, partial(store.prune_deliveries, cutoff))
    for sweep, swept in sweeps:
        await run(sweep.kind, ROW_BATCH, partial(store.prune_sweep, sweep, swept))
    return Outcome(total)


class Pruner(Worker[float]):
    """Runs :func:`prune_once` every ``HOOKLINE_PRUNE_INTERVAL`` seconds (the unit of work is the
    time of the run). Several processes sharing PostgreSQL may each run it: the batches skip
    what another one holds."""

    name = "pruner"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, concurrency=1, interval=rt.config.prune_interval)
        self._next_run = rt.clock.now()

    async def claim(self, limit: int) -> list[float]:
        now = self.rt.clock.now()
        if now < self._next_run:
            return []
        self._next_run = now + self.rt.config.prune_interval
        return [now]

    async def idle(self, *, free: int, claimed: int) -> None:
        # Wait for the next run, not a whole interval after the last look: looks drift otherwise.
        self.interval = min(self.rt.config.prune_interval, max(0.01, self._next_run - self.rt.clock.now()))
        await super().idle(free=free, claimed=claimed)

    async def handle(self, unit: float) -> None:
        config = self.rt.config
        metric = self.rt.metrics.pruned
        outcome = await prune_once(
            self.rt.store,
            config.archive_dir,
            self.rt.clock.now(),
            config.retention,
            counted=lambda kind, n: metric.labels(kind).inc(n),
        )
        if any(outcome.counts.values()):
            log.info("pruned %s", outcome.describe(), extra={"pruned": outcome.counts})
