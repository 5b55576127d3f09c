"""The state machine never moves a job backwards; first terminal wins; and any order and any
repetition of a job's callbacks ends in the same state (a hypothesis property)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline import statemachine
from hookline.correlate import JobIndex, plan_ingest
from hookline.models import Inbound, Job
from receiver.adapters import ADAPTERS
from tests.support import MJPROXY_FAILURE, MJPROXY_LIFECYCLE, USEAPI_COMPLETED, fixture_bytes, fixture_json

LIFECYCLES = {
    "mjproxy-success": ("mjproxy", MJPROXY_LIFECYCLE),
    "mjproxy-failure": ("mjproxy", MJPROXY_FAILURE),
    "useapi-completed": ("useapi", ["useapi-blend-00b-submit-200-v2.json", *USEAPI_COMPLETED]),
}


def _inbound(provider: str, name: str) -> Inbound:
    body = fixture_bytes(name)
    return Inbound(provider, body, {}, 0.0, snapshot=ADAPTERS[provider](fixture_json(name)))


def _final_state(provider: str, names: list[str]) -> tuple[object, ...]:
    index = JobIndex([])
    plan = plan_ingest([_inbound(provider, n) for n in names], index, 1.0)
    jobs = list(plan.created.values())
    assert len(jobs) == 1, "all callbacks of one job must correlate to one job"
    j = jobs[0]
    return (j.status, j.progress, tuple(j.image_urls), j.error, j.upstream_id, j.correlation_key, j.upstream)


def _job(status: str, progress: int | None) -> Job:
    return Job("job_x", "mjproxy", "1", None, status, progress, [], None, None, {}, "cb_seen", 1, "callback", 0, 0)


def _snap(status: str, progress: int | None):  # type: ignore[no-untyped-def]
    from hookline.models import Snapshot

    return Snapshot("1", None, status, progress)


@pytest.mark.parametrize(
    ("job", "snap", "outcome"),
    [
        (("submitted", 0), ("in_progress", 15), "applied"),
        (("in_progress", 46), ("in_progress", 31), "stale"),
        (("in_progress", 46), ("in_progress", 46), "duplicate"),
        (("in_progress", 46), ("submitted", 0), "stale"),
        (("in_progress", 93), ("succeeded", 100), "applied"),
        (("succeeded", 100), ("failed", None), "conflict"),
        (("failed", None), ("succeeded", 100), "conflict"),
        (("succeeded", 100), ("succeeded", 100), "duplicate"),
        (("succeeded", 100), ("in_progress", 93), "stale"),
    ],
)
def test_judge(job: tuple[str, int | None], snap: tuple[str, int | None], outcome: str) -> None:
    assert statemachine.judge(_job(*job), _snap(*snap)) == outcome


def test_a_job_that_never_saw_a_snapshot_applies_the_first() -> None:
    job = _job("queued", None)
    job.upstream_callback_id = None
    assert statemachine.judge(job, _snap("queued", None)) == "applied"


def test_apply_counts_events_and_names_the_type() -> None:
    job = _job("submitted", 0)
    assert statemachine.apply(job, _snap("in_progress", 15), 5.0, "cb_1") == "job.progress"
    assert job.sequence == 2 and job.status == "in_progress" and job.updated_at == 5.0


@pytest.mark.parametrize("lifecycle", sorted(LIFECYCLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_permutation_with_repetitions_ends_in_the_in_order_state(lifecycle: str, data: st.DataObject) -> None:
    provider, names = LIFECYCLES[lifecycle]
    expected = _final_state(provider, names)
    shuffled = data.draw(st.permutations(names))
    repeats = data.draw(st.lists(st.sampled_from(names), max_size=len(names) * 2))
    order = data.draw(st.permutations([*shuffled, *repeats]))
    assert _final_state(provider, list(order)) == expected
