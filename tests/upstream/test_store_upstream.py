"""The store contract of the upstream work queues (submissions, polls, archives), on every
backend (the ``store`` fixture)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from hookline.changes import NewJob
from hookline.clock import SystemClock
from hookline.ids import new_id
from hookline.models import Inbound, Snapshot
from hookline.queries import DeliveryQuery
from hookline.store import Store, open_store
from hookline.upstream_work import ArchivedImage, NewSubmission
from receiver.adapters import ADAPTERS
from tests.conftest import make_config
from tests.hookline.test_store import subscription

A, B = "owner-a", "owner-b"
LEASE = 60.0


async def submit(store: Store, provider: str = "mjproxy", channel: str | None = None, **new: Any) -> str:
    job_id = new_id("job")
    request = {"images": ["data:image/png;base64,AA=="] * 2, "dimensions": None, "bot_type": None}
    await store.register_submission(
        NewJob(provider=provider, correlation_key=job_id, origin="submitted", **new),
        NewSubmission(job_id=job_id, provider=provider, request=request, channel=channel),
        time.time(),
    )
    return job_id


def answer(job_id: str, task_id: str, status: str = "submitted", provider: str = "mjproxy") -> Inbound:
    doc = {"code": 1, "result": task_id}
    snapshot = Snapshot(task_id, job_id, status, 0 if status == "submitted" else None, action="blend", raw=doc)
    return Inbound(provider, orjson.dumps(doc), {}, time.time(), source="submit", snapshot=snapshot)


def callback(provider: str, doc: dict[str, Any]) -> Inbound:
    return Inbound(provider, orjson.dumps(doc), {}, time.time(), snapshot=ADAPTERS[provider](doc))


def success(task_id: str, state: str | None = None, image: str | None = "https://cdn.example/a.png") -> Inbound:
    return callback(
        "mjproxy", {"id": task_id, "status": "SUCCESS", "progress": "100%", "state": state, "imageUrl": image}
    )


# --- submissions ----------------------------------------------------------------------------------
async def test_register_submission_makes_the_job_and_a_due_submission(store: Store) -> None:
    sub = subscription()
    job_id = await submit(store, metadata={"k": 1}, subscription=sub)
    job = await store.get_job(job_id)
    assert job is not None and job.origin == "submitted" and job.status == "queued" and job.metadata == {"k": 1}
    pending = await store.get_submission(job_id)
    assert pending is not None and pending.state == "pending" and pending.attempts == 0 and pending.next_attempt_at
    assert (await store.get_subscription(sub.id)).job_id == job_id  # type: ignore[union-attr]
    (claim,) = await store.claim_submissions(A, 10, time.time(), LEASE, 3)
    assert claim.job_id == job_id and claim.request["images"] == ["data:image/png;base64,AA=="] * 2


async def test_claims_are_oldest_first_leased_and_counted(store: Store) -> None:
    first, second = await submit(store), await submit(store)
    now = time.time()
    claimed = await store.claim_submissions(A, 10, now, LEASE, 3)
    assert [c.job_id for c in claimed] == [first, second] and [c.attempts for c in claimed] == [0, 0]
    assert await store.claim_submissions(B, 10, now, LEASE, 3) == []
    again = await store.claim_submissions(B, 10, now + LEASE + 1, LEASE, 3)  # the leases expired
    assert [c.attempts for c in again] == [1, 1]


async def test_hold_puts_it_back_for_later_and_only_for_the_lease_holder(store: Store) -> None:
    job_id = await submit(store)
    now = time.time()
    await store.claim_submissions(A, 1, now, LEASE, 3)
    await store.hold_submission(job_id, B, now, "not mine", now)  # ignored
    await store.hold_submission(job_id, A, now + 30, "queue full (code 23)", now)
    held = await store.get_submission(job_id)
    assert held is not None and held.state == "pending" and held.last_error == "queue full (code 23)"
    assert held.attempts == 1 and held.next_attempt_at == pytest.approx(now + 30)
    assert await store.claim_submissions(A, 1, now + 29, LEASE, 3) == []
    assert len(await store.claim_submissions(A, 1, now + 31, LEASE, 3)) == 1


async def test_finish_applies_the_answer_and_marks_the_submission(store: Store) -> None:
    await store.create_subscription(subscription())
    sent_id, refused_id = await submit(store), await submit(store)
    await store.claim_submissions(A, 2, time.time(), LEASE, 3)
    result = await store.finish_submission(sent_id, answer(sent_id, "1722931207538412"), sent=True)
    assert result.job_id == sent_id and result.outcome == "applied" and len(result.event_ids) == 1
    job = await store.get_job(sent_id)
    assert job is not None and job.upstream_id == "1722931207538412" and job.status == "submitted"
    sent = await store.get_submission(sent_id)
    assert sent is not None and sent.state == "sent" and sent.sent_at and sent.next_attempt_at is None
    (event,) = await store.job_events(sent_id)
    assert event.type == "job.submitted"
    deliveries = await store.claim_deliveries("d", 10, time.time(), 60, 10)
    assert [d.event_id for d in deliveries] == [event.id]

    refused_snapshot = Snapshot(None, refused_id, "failed", None, error="code 4: base64List参数错误", raw={})
    refusal = dataclasses.replace(answer(refused_id, "x"), snapshot=refused_snapshot)
    await store.finish_submission(refused_id, refusal, sent=False)
    refused = await store.get_submission(refused_id)
    assert refused is not None and refused.state == "refused" and refused.last_error == "code 4: base64List参数错误"
    assert (await store.get_job(refused_id)).status == "failed"  # type: ignore[union-attr]
    assert await store.claim_submissions(A, 10, time.time() + LEASE * 2, LEASE, 3) == []


async def test_a_channel_runs_at_most_its_limit(store: Store) -> None:
    ids = [await submit(store, "useapi", channel="useapi:c1") for _ in range(4)]
    free = await submit(store)  # mjproxy: no channel, no limit
    now = time.time()
    claimed = await store.claim_submissions(A, 10, now, LEASE, 2)
    assert sorted(c.job_id for c in claimed) == sorted([ids[0], ids[1], free])
    assert await store.claim_submissions(B, 10, now, LEASE, 2) == []  # two are being sent: the channel is full
    await store.finish_submission(ids[0], answer(ids[0], "J0", "submitted", "useapi"), sent=True)
    assert await store.claim_submissions(B, 10, now, LEASE, 2) == []  # sent and still running
    refused_snapshot = Snapshot("J1", ids[1], "failed", None, error="HTTP 412", raw={})
    refusal = dataclasses.replace(answer(ids[1], "J1", "failed", "useapi"), snapshot=refused_snapshot)
    await store.finish_submission(ids[1], refusal, sent=False)
    (next_one,) = await store.claim_submissions(B, 10, now, LEASE, 2)  # a refused job does not run
    assert next_one.job_id == ids[2]
    await store.record_callback(callback("useapi", {"jobid": "J0", "status": "completed", "replyRef": ids[0]}))
    (last,) = await store.claim_submissions(B, 10, now, LEASE, 2)  # J0 finished: its slot is free
    assert last.job_id == ids[3]


async def test_leases_left_by_a_dead_process_are_released_at_start(tmp_path: Path) -> None:
    """SQLite only: one process owns the file, so at start-up every lease is stale. (On PostgreSQL
    other processes may hold leases; they expire instead.)"""
    config = make_config(f"sqlite:///{tmp_path / 'h.db'}", tmp_path)
    first = open_store(config, clock=SystemClock())
    await first.open()
    job_id = await submit(first)
    await first.claim_submissions(A, 1, time.time(), LEASE, 3)
    await first.close()
    second = open_store(config, clock=SystemClock())
    await second.open()
    try:
        (claim,) = await second.claim_submissions(B, 1, time.time(), LEASE, 3)
        assert claim.job_id == job_id and claim.attempts == 1
    finally:
        await second.close()


# --- polls ----------------------------------------------------------------------------------------
async def test_quiet_open_jobs_are_leased_to_one_poller(store: Store) -> None:
    await store.record_callback(callback("mjproxy", {"id": "T1", "status": "SUBMITTED", "progress": "0%"}))
    await store.record_callback(callback("useapi", {"jobid": "J1", "status": "started"}))
    await store.record_callback(success("T2"))  # terminal: never polled
    held = await submit(store)  # still in hookline's queue: not the upstream's yet
    now = time.time() + 10
    claimed = await store.claim_polls(A, 10, now, LEASE, ["mjproxy", "useapi"], 5.0)
    assert sorted(c.job.upstream_id or "" for c in claimed) == ["J1", "T1"]
    assert held not in {c.job.id for c in claimed}
    assert await store.claim_polls(B, 10, now, LEASE, ["mjproxy", "useapi"], 5.0) == []
    await store.release_polls(A, [c.job.id for c in claimed])
    assert await store.claim_polls(B, 10, now + 1, LEASE, ["mjproxy", "useapi"], 5.0) == []  # not yet again
    assert len(await store.claim_polls(B, 10, now + 6, LEASE, ["mjproxy", "useapi"], 5.0)) == 2


async def test_polls_skip_recent_jobs_and_other_providers(store: Store) -> None:
    await store.record_callback(callback("mjproxy", {"id": "T1", "status": "SUBMITTED", "progress": "0%"}))
    now = time.time()
    assert await store.claim_polls(A, 10, now, LEASE, ["mjproxy"], 5.0) == []  # heard from just now
    assert await store.claim_polls(A, 10, now + 10, LEASE, ["useapi"], 5.0) == []


async def test_a_submitted_job_is_watched_from_when_it_was_sent(store: Store) -> None:
    job_id = await submit(store)
    await store.claim_submissions(A, 1, time.time(), LEASE, 3)
    inbound = answer(job_id, "T9")
    await store.finish_submission(job_id, inbound, sent=True)
    (claim,) = await store.claim_polls(A, 10, time.time() + 10, LEASE, ["mjproxy"], 5.0)
    assert claim.job.id == job_id and claim.watched_since == pytest.approx(inbound.received_at)


# --- archives -------------------------------------------------------------------------------------
async def test_success_with_images_queues_one_archive(store: Store) -> None:
    await store.record_callback(success("T1"))
    await store.record_callback(success("T1"))  # a duplicate does not queue it again
    await store.record_callback(success("T2", image=None))  # nothing to keep
    (claim,) = await store.claim_archives(A, 10, time.time(), LEASE)
    assert claim.image_urls == ["https://cdn.example/a.png"] and claim.archived == [] and claim.attempts == 0
    assert await store.claim_archives(B, 10, time.time(), LEASE) == []


async def test_complete_archive_emits_job_archived_with_its_deliveries(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    result = await store.record_callback(success("T1"))
    (claim,) = await store.claim_archives(A, 10, time.time(), LEASE)
    image = ArchivedImage("https://cdn.example/a.png", "http://h/v1/archive/" + "a" * 64, "a" * 64, "image/png", 10)
    assert await store.complete_archive(claim.job_id, B, [image], time.time()) is None  # not B's lease
    event = await store.complete_archive(claim.job_id, A, [image], time.time())
    assert event is not None and event.type == "job.archived" and event.sequence == 2
    payload = orjson.loads(event.payload)
    assert payload["data"]["archived_images"] == [image.to_api()] and payload["data"]["sequence"] == 2
    job = await store.get_job(result.job_id or "")
    assert job is not None and job.sequence == 2
    state = await store.get_archive(claim.job_id)
    assert state is not None and state.state == "archived" and state.images == [image]
    deliveries = (await store.list_deliveries(DeliveryQuery(job_id=claim.job_id))).items
    assert sorted((d.event_type, d.subscription_id) for d in deliveries) == [
        ("job.archived", sub.id),
        ("job.succeeded", sub.id),
    ]


async def test_fail_archive_retries_then_gives_up(store: Store) -> None:
    await store.record_callback(success("T1"))
    (claim,) = await store.claim_archives(A, 10, time.time(), LEASE)
    now = time.time()
    kept = ArchivedImage("https://cdn.example/a.png", "u", "b" * 64, "image/png", 3)
    await store.fail_archive(claim.job_id, B, "not mine", [], now + 5, now)  # ignored
    await store.fail_archive(claim.job_id, A, "image 2: HTTP 503", [kept], now + 5, now)
    state = await store.get_archive(claim.job_id)
    assert state is not None and state.state == "pending" and state.last_error == "image 2: HTTP 503"
    assert state.attempts == 1 and state.next_attempt_at == pytest.approx(now + 5)
    assert await store.claim_archives(A, 10, now + 4, LEASE) == []
    (again,) = await store.claim_archives(A, 10, now + 6, LEASE)
    assert again.archived == [kept] and again.attempts == 1
    await store.fail_archive(claim.job_id, A, "image 2: HTTP 404", [kept], None, now)
    state = await store.get_archive(claim.job_id)
    assert state is not None and state.state == "failed" and state.attempts == 2 and state.next_attempt_at is None
    assert await store.claim_archives(A, 10, now + 3600, LEASE) == []
