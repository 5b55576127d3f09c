"""The state machine never moves a job backwards; first terminal wins; and any order and any
repetition of a job's callbacks ends in the same state (a hypothesis property)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline import statemachine
from hookline.correlate import JobIndex, plan_ingest
from hookline.models import Inbound, Job
from receiver.adapters import ADAPTERS
from tests.support import MJPROXY_FAILURE, MJPROXY_LIFECYCLE, USEAPI_COMPLETED, fixture_bytes, fixture_json
from upstream.reconciler import read_poll

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


@pytest.mark.parametrize("own", sorted(statemachine.OWN_ERRORS))
@pytest.mark.parametrize(("status", "progress"), [("succeeded", 100), ("failed", None), ("moderated", None)])
def test_a_real_upstream_terminal_overrules_hooklines_own_verdict(own: str, status: str, progress: int | None) -> None:
    job = _job("failed", None)
    job.error = own
    snap = _snap(status, progress)
    snap.error = None if status == "succeeded" else "任务超时"
    assert statemachine.judge(job, snap) == "applied"
    assert statemachine.apply(job, snap, 9.0, "cb_late") == f"job.{status}"
    assert job.status == status and job.sequence == 2  # a new event for subscribers


def test_hooklines_own_verdict_never_replaces_an_upstream_terminal() -> None:
    job = _job("succeeded", 100)
    verdict = statemachine.own_verdict("1", "job_x", statemachine.TIMEOUT, raw={})
    assert statemachine.judge(job, verdict) == "conflict"


def test_upstream_terminals_stay_first_wins_after_overruling_hookline() -> None:
    job = _job("failed", None)
    job.error = statemachine.TIMEOUT
    statemachine.apply(job, _snap("succeeded", 100), 9.0, "cb_late")
    late = _snap("failed", None)
    late.error = "任务超时"
    assert statemachine.judge(job, late) == "conflict"


def test_a_second_own_verdict_is_not_applied() -> None:
    job = _job("failed", None)
    job.error = statemachine.TIMEOUT
    lost = statemachine.own_verdict("1", "job_x", statemachine.LOST_UPSTREAM, raw={})
    assert statemachine.judge(job, lost) == "stale"


def test_a_progress_snapshot_after_hooklines_timeout_is_stale() -> None:
    job = _job("failed", None)
    job.error = statemachine.TIMEOUT
    assert statemachine.judge(job, _snap("in_progress", 93)) == "stale"


# --- a bad day: callbacks, polls (some saying nothing) and hookline's own timeouts, in any order ---
def _cancelled_lifecycle() -> list[bytes]:
    """trueai: a user's cancel arrives as FAILURE with 取消任务, after some progress."""
    cancel = {**fixture_json("mjproxy-blend-90-failure-timeout.json"), "failReason": "取消任务"}
    return [*(fixture_bytes(n) for n in MJPROXY_LIFECYCLE[:5]), orjson.dumps(cancel)]


BAD_DAY_LIFECYCLES: dict[str, tuple[str, list[bytes]]] = {
    "mjproxy-success": ("mjproxy", [fixture_bytes(n) for n in MJPROXY_LIFECYCLE]),
    "mjproxy-failure": ("mjproxy", [fixture_bytes(n) for n in MJPROXY_FAILURE]),
    "mjproxy-cancelled": ("mjproxy", _cancelled_lifecycle()),
    "useapi-completed": (
        "useapi",
        [fixture_bytes(n) for n in ["useapi-blend-00b-submit-200-v2.json", *USEAPI_COMPLETED]],
    ),
}
UNKNOWN_POLLS = {
    "mjproxy": [None, b"", b"null", b'{"id": "1722931207538412", "status": ""}', b'{"id": "1722931207538412"}'],
    "useapi": [None, b"", b'{"jobid": "x", "status": ""}'],
}


def _pre_created(provider: str, first: bytes) -> Job:
    snap = ADAPTERS[provider](orjson.loads(first))
    return Job.new("job_x", provider, 0.0, origin="submitted", upstream_id=snap.upstream_id, correlation_key="job_x")


def _run(provider: str, first: bytes, items: list[tuple[str, bytes | None]]) -> tuple[object, ...]:
    """Feed what the upstream said (and hookline's own timeouts) through the ingest plan, as the
    receiver and the reconciler do; poll answers go through the reconciler's reader."""
    job = _pre_created(provider, first)
    inbound: list[Inbound] = []
    for source, body in items:
        if source == "callback":
            assert body is not None
            inbound.append(Inbound(provider, body, {}, 0.0, snapshot=ADAPTERS[provider](orjson.loads(body))))
        elif source == "poll":
            reading = read_poll(provider, body)
            if reading.kind != "unknown":  # an unknown answer is never recorded
                assert body is not None
                inbound.append(Inbound(provider, body, {}, 0.0, source="poll", snapshot=reading.snapshot))
        else:
            raw = {"error": source}
            verdict = statemachine.own_verdict(job.upstream_id, job.id, source, raw)
            inbound.append(Inbound(provider, orjson.dumps(raw), {}, 0.0, source="timeout", snapshot=verdict))
    plan_ingest(inbound, JobIndex([job]), 1.0)
    return (job.status, job.progress, tuple(job.image_urls), job.error, job.upstream_id, job.upstream)


@pytest.mark.parametrize("lifecycle", sorted(BAD_DAY_LIFECYCLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_bad_day_ends_in_the_same_state_as_the_clean_run(lifecycle: str, data: st.DataObject) -> None:
    provider, bodies = BAD_DAY_LIFECYCLES[lifecycle]
    expected = _run(provider, bodies[0], [("callback", b) for b in bodies])
    said = st.tuples(st.sampled_from(["callback", "poll"]), st.sampled_from(bodies))
    noise = st.one_of(
        st.tuples(st.just("poll"), st.sampled_from(UNKNOWN_POLLS[provider])),
        st.tuples(st.sampled_from(sorted(statemachine.OWN_ERRORS)), st.none()),
    )
    lost = set(data.draw(st.sets(st.integers(0, len(bodies) - 2))))  # callbacks the upstream lost …
    heard = [(data.draw(st.sampled_from(["callback", "poll"])), b) for i, b in enumerate(bodies) if i not in lost]
    extra = data.draw(st.lists(st.one_of(said, noise), max_size=len(bodies) * 2))
    order = data.draw(st.permutations([*heard, *extra]))
    assert _run(provider, bodies[0], list(order)) == expected  # … but never the terminal one
