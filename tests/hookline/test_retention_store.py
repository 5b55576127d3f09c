"""Retention and erasure at the store, on every backend (the ``store`` fixture), with the archive's
real files: a file goes when no remaining job's archive names it, and not before; a dry run
counts what a run deletes and deletes nothing."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson

from hookline.clock import ManualClock
from hookline.models import Inbound
from hookline.retention import JOB_BATCH, archive_file, erase_jobs, prune_once
from hookline.store import Store, open_store
from hookline.upstream_work import ArchivedImage
from receiver.adapters import ADAPTERS
from tests.conftest import make_config

LEASE = 60.0
RETENTION = 100.0


def success(task_id: str, received_at: float, *, image: bool = True) -> Inbound:
    doc = {"id": task_id, "status": "SUCCESS", "progress": "100%"}
    if image:
        doc["imageUrl"] = f"https://cdn.example/{task_id}.png"
    return Inbound("mjproxy", orjson.dumps(doc), {}, received_at, snapshot=ADAPTERS["mjproxy"](doc))


async def archived_job(store: Store, root: Path, task_id: str, image: bytes, now: float) -> tuple[str, str]:
    """A succeeded job whose one image is archived (its file written as the archiver would)."""
    result = await store.record_callback(success(task_id, now))
    assert result.job_id is not None
    (claim,) = await store.claim_archives("archiver", 1, now + 3600, LEASE)
    sha = hashlib.sha256(image).hexdigest()
    path = archive_file(root, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image)
    kept = ArchivedImage(claim.image_urls[0], f"http://h/v1/archive/{sha}", sha, "image/png", len(image))
    assert await store.complete_archive(claim.job_id, "archiver", [kept], now) is not None
    return result.job_id, sha


async def test_an_erased_jobs_archived_file_goes_once_no_other_job_names_it(store: Store, tmp_path: Path) -> None:
    now = time.time()
    first, sha = await archived_job(store, tmp_path, "T1", b"same image", now)
    second, same = await archived_job(store, tmp_path, "T2", b"same image", now)
    assert sha == same

    deleted = await erase_jobs(store, tmp_path, [first])

    assert deleted["jobs"] == 1 and deleted["archived_images"] == 0
    assert archive_file(tmp_path, sha).exists()  # the second job still names it
    deleted = await erase_jobs(store, tmp_path, [second])
    assert deleted["jobs"] == 1 and deleted["archived_images"] == 1
    assert not archive_file(tmp_path, sha).exists()
    assert await store.get_archive(second) is None and await store.get_job(second) is None


async def test_pruning_removes_the_files_of_the_jobs_it_deletes(store: Store, tmp_path: Path) -> None:
    old = time.time() - 2 * RETENTION
    job_id, sha = await archived_job(store, tmp_path, "T3", b"old image", old)

    outcome = await prune_once(store, tmp_path, time.time(), RETENTION)

    assert outcome.counts["jobs"] == 1 and outcome.counts["archived_images"] == 1
    assert outcome.counts["events"] == 2 and outcome.counts["callbacks"] == 1  # job.succeeded, job.archived
    assert not archive_file(tmp_path, sha).exists() and await store.get_job(job_id) is None


async def test_a_dry_run_counts_what_a_run_deletes_and_deletes_nothing(store: Store, tmp_path: Path) -> None:
    old = time.time() - 2 * RETENTION
    job_id, sha = await archived_job(store, tmp_path, "T4", b"kept image", old)
    await store.record_callback(success("T5", time.time()))  # young: stays

    dry = await prune_once(store, tmp_path, time.time(), RETENTION, dry_run=True)

    assert await store.get_job(job_id) is not None and archive_file(tmp_path, sha).exists()
    real = await prune_once(store, tmp_path, time.time(), RETENTION)
    assert dry.counts == real.counts and real.counts["jobs"] == 1


async def test_pruning_runs_in_batches_until_nothing_old_is_left(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(time.time() - 2 * RETENTION)
    store = open_store(make_config(database_url, tmp_path), clock=clock)
    await store.open()
    try:
        total = JOB_BATCH * 2 + 3
        for n in range(total):
            await store.record_callback(success(f"B{n}", clock.now(), image=False))
        clock.advance(2 * RETENTION)
        seen: list[int] = []

        outcome = await prune_once(
            store, tmp_path, clock.now(), RETENTION, progress=lambda kind, n: seen.append(n) if kind == "jobs" else None
        )

        assert outcome.counts["jobs"] == total
        assert seen == [JOB_BATCH, JOB_BATCH * 2, total]
    finally:
        await store.close()


async def test_an_attempt_finished_after_its_job_was_erased_leaves_no_row(store: Store, tmp_path: Path) -> None:
    """A dispatcher sending a delivery while its job is erased records nothing when it finishes:
    erasure leaves no attempt row behind (retention would never find one without its delivery)."""
    from tests.hookline.test_store import claim, completion, subscription

    await store.create_subscription(subscription())
    result = await store.record_callback(success("T9", time.time(), image=False))
    (in_flight,) = await claim(store)

    assert (await erase_jobs(store, tmp_path, [str(result.job_id)]))["deliveries"] == 1
    await store.complete_delivery(completion(in_flight, "delivered", success=True), time.time(), 1e9)

    assert await store.delivery_attempts(in_flight.delivery_id) == []
