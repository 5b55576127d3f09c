"""The store's idempotency keys, on both backends: a key is claimed by one request at a time, its
answer is replayed for 24 h to the same request only, a crashed request's key frees itself, and
dead keys are pruned. Also the correlation-key rule that keeps a registered job from waiting for
ever behind another unbound job with its key."""

from __future__ import annotations

import asyncio

import pytest

from hookline.changes import NewJob
from hookline.errors import Conflict
from hookline.store import Store
from hookline.store.idempotency import ANSWER_TTL, Answer
from tests.hookline.test_store import inbound, mj

T0 = 1_800_000_000.0
LOCK = 30.0
CREATED = Answer(201, "application/json", b'{"id": "job_1"}')


async def claim(store: Store, fingerprint: str = "f1", owner: str = "o1", now: float = T0, key: str = "k") -> str:
    found = await store.claim_idempotency_key("admin", key, fingerprint, owner, now, LOCK)
    return found.state


async def test_the_first_request_claims_the_key(store: Store) -> None:
    assert await claim(store) == "claimed"


async def test_a_repeat_while_the_first_runs_is_in_use(store: Store) -> None:
    await claim(store)
    assert await claim(store, owner="o2", now=T0 + 1) == "in_use"


async def test_another_request_with_the_key_is_refused_as_reused(store: Store) -> None:
    await claim(store)
    assert await claim(store, fingerprint="f2", owner="o2", now=T0 + 1) == "reused"
    assert await store.save_idempotent_answer("admin", "k", "o1", CREATED, T0 + 2)
    assert await claim(store, fingerprint="f2", owner="o3", now=T0 + 3) == "reused"


async def test_a_repeat_after_the_answer_gets_the_answer(store: Store) -> None:
    await claim(store)
    assert await store.save_idempotent_answer("admin", "k", "o1", CREATED, T0 + 1)
    found = await store.claim_idempotency_key("admin", "k", "f1", "o2", T0 + 2, LOCK)
    assert (found.state, found.answer) == ("replay", CREATED)


async def test_an_answer_is_forgotten_after_24_hours(store: Store) -> None:
    await claim(store)
    await store.save_idempotent_answer("admin", "k", "o1", CREATED, T0)
    assert await claim(store, owner="o2", now=T0 + ANSWER_TTL - 1) == "replay"
    assert await claim(store, fingerprint="f2", owner="o3", now=T0 + ANSWER_TTL) == "claimed"


async def test_keys_are_per_credential(store: Store) -> None:
    await claim(store)
    found = await store.claim_idempotency_key("key_other", "k", "f2", "o2", T0, LOCK)
    assert found.state == "claimed"


async def test_a_crashed_requests_key_frees_itself_when_its_lock_runs_out(store: Store) -> None:
    await claim(store)  # o1 never answers nor extends: its process died
    assert await claim(store, owner="o2", now=T0 + LOCK - 1) == "in_use"
    assert await claim(store, owner="o2", now=T0 + LOCK) == "claimed"
    # the dead request's late answer is not kept over the running one
    assert not await store.save_idempotent_answer("admin", "k", "o1", CREATED, T0 + LOCK + 1)
    assert await claim(store, owner="o3", now=T0 + LOCK + 2) == "in_use"


async def test_a_running_request_keeps_its_key_by_extending_the_lock(store: Store) -> None:
    await claim(store)
    assert await store.extend_idempotency_lock("admin", "k", "o1", T0 + 2 * LOCK)
    assert await claim(store, owner="o2", now=T0 + LOCK + 1) == "in_use"


async def test_a_released_key_lets_the_next_try_run(store: Store) -> None:
    await claim(store)
    await store.release_idempotency_key("admin", "k", "o1")
    assert await claim(store, owner="o2", now=T0 + 1) == "claimed"


async def test_concurrent_claims_let_exactly_one_request_run(store: Store) -> None:
    states = await asyncio.gather(*(claim(store, owner=f"o{n}") for n in range(8)))
    assert sorted(states) == ["claimed"] + ["in_use"] * 7


async def test_prune_deletes_only_dead_keys_in_batches(store: Store) -> None:
    for n in range(3):  # answered at T0: dead at T0 + 24 h
        await claim(store, key=f"old{n}")
        await store.save_idempotent_answer("admin", f"old{n}", "o1", CREATED, T0)
    await claim(store, key="fresh")
    await store.save_idempotent_answer("admin", "fresh", "o1", CREATED, T0 + 3600)
    await claim(store, key="running", now=T0 + ANSWER_TTL)
    now = T0 + ANSWER_TTL + 1
    assert await store.prune_idempotency(now, 2) == 2
    assert await store.prune_idempotency(now, 2) == 1
    assert await store.prune_idempotency(now, 2) == 0
    assert await claim(store, owner="o2", key="fresh", now=now) == "replay"
    assert await claim(store, owner="o2", key="running", now=now) == "in_use"


# correlation keys ------------------------------------------------------------------------------


async def test_registering_a_key_an_unbound_job_has_is_a_conflict(store: Store) -> None:
    first = await store.register_job(NewJob("mjproxy", "dup-key"), T0)
    with pytest.raises(Conflict) as refused:
        await store.register_job(NewJob("mjproxy", "dup-key"), T0 + 1)
    assert refused.value.code == "correlation_key_taken" and first.id in refused.value.message


async def test_a_key_is_free_again_once_its_job_is_bound(store: Store) -> None:
    first = await store.register_job(NewJob("mjproxy", "dup-key"), T0)
    bound = await store.record_callback(inbound("mjproxy", mj("A", state="dup-key")))
    second = await store.register_job(NewJob("mjproxy", "dup-key"), T0 + 1)
    later = await store.record_callback(inbound("mjproxy", mj("B", state="dup-key")))
    assert (bound.job_id, later.job_id) == (first.id, second.id)


@pytest.mark.parametrize("new", [NewJob("useapi", "dup-key"), NewJob("mjproxy", "dup-key", upstream_id="T7")])
async def test_another_provider_or_a_known_upstream_id_may_share_the_key(store: Store, new: NewJob) -> None:
    await store.register_job(NewJob("mjproxy", "dup-key"), T0)
    assert (await store.register_job(new, T0 + 1)).correlation_key == "dup-key"


async def test_concurrent_registrations_of_one_key_make_one_job(store: Store) -> None:
    tries = [store.register_job(NewJob("mjproxy", "race"), T0 + n) for n in range(6)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
