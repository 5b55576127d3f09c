"""The reconciler: finds the jobs whose callbacks got lost, asks their upstream, and times out the
ones that never finish.

A non-terminal job of a configured provider that has been quiet (no callback, no poll) for
``HOOKLINE_RECONCILE_AFTER`` seconds is claimed with a lease in the store, so no two processes poll
it at once, and not offered again for another ``RECONCILE_AFTER``. Its upstream is asked (mjproxy:
``fetch`` for one, ``list-by-condition`` for several; useapi: ``GET /v1/jobs/?jobid=``) and the
snapshot goes through ``record_callback`` like any callback, with source ``poll``.

An answer that says nothing (:func:`read_poll`: status empty or missing, 204, an empty body, 404,
410, new-api's ``task_no_found``) is "unknown": nothing is recorded, the job keeps waiting, and it
is logged at debug level only (new-api answers ``status: ""`` until its own update loop runs).

A job still not terminal ``HOOKLINE_JOB_TIMEOUT`` seconds after the upstream got it is failed by
hookline, through the state machine as well (source ``timeout``): error ``lost upstream`` when the
upstream's last answer was "unknown", ``timeout`` otherwise. Both are soft verdicts
(``hookline.statemachine``): a real terminal snapshot arriving later still applies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from hookline import statemachine
from hookline.models import TERMINAL, Snapshot
from hookline.nesting import MAX_DEPTH, too_deep
from hookline.runtime import Runtime
from hookline.upstream_work import PollClaim
from receiver import ingest
from receiver.adapters import ADAPTERS, AdapterError, NoStatus
from upstream.client import Polled, UpstreamClient
from upstream.providers import build_clients
from upstream.worker import Worker

log = logging.getLogger(__name__)
CONCURRENCY = 4  # batches in flight
# Jobs claimed per free batch slot: the smallest batch (useapi, one GET per job) is 10, so a claim
# makes at most one batch more than the free slots, and no leased job waits for its lease to end.
CLAIM_PER_BATCH = 10


@dataclass(frozen=True, slots=True)
class Reading:
    """What one poll answer says: ``unknown`` (nothing), ``snapshot``, or ``unusable`` (with why)."""

    kind: str
    snapshot: Snapshot | None = None
    problem: str | None = None


def read_poll(provider: str, body: bytes | None) -> Reading:
    """Read a poll answer's body (None: the client already saw an "unknown" HTTP answer). Pure."""
    if body is None or body.strip() in (b"", b"null"):
        return Reading("unknown")
    try:
        document = orjson.loads(body)
        if too_deep(body, document):
            raise AdapterError(f"it nests more than {MAX_DEPTH} levels deep")
        return Reading("snapshot", ADAPTERS[provider](document))
    except NoStatus:
        return Reading("unknown")
    except (orjson.JSONDecodeError, AdapterError) as exc:
        return Reading("unusable", problem=f"poll answer unusable: {exc}")


class Reconciler(Worker[list[PollClaim]]):
    name = "reconciler"

    def __init__(self, rt: Runtime, *, owner: str | None = None) -> None:
        super().__init__(rt, concurrency=CONCURRENCY, owner=owner)
        self.clients: dict[str, UpstreamClient] = build_clients(rt.config.upstream)
        self.cfg = rt.config.upstream
        self.lease = self.cfg.timeout * 2 + 30.0

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def claim(self, limit: int) -> list[list[PollClaim]]:
        claims = await self.rt.store.claim_polls(
            self.owner,
            limit * CLAIM_PER_BATCH,
            self.rt.clock.now(),
            self.lease,
            sorted(self.clients),
            self.cfg.reconcile_after,
        )
        batches: list[list[PollClaim]] = []
        for provider, client in self.clients.items():
            mine = [c for c in claims if c.job.provider == provider]
            batches += [mine[i : i + client.poll_batch] for i in range(0, len(mine), client.poll_batch)]
        return batches

    async def handle(self, batch: list[PollClaim]) -> None:
        provider = batch[0].job.provider
        try:
            polled = {p.job_id: p for p in await self.clients[provider].poll([c.job for c in batch])}
        except Exception as exc:
            log.warning("polling %s failed: %s", provider, exc, extra={"jobs": len(batch)})
            polled = {c.job.id: Polled(c.job.id, None, error=str(exc)) for c in batch if c.job.upstream_id}
        try:
            for claim in batch:
                said = await self._apply(claim, polled.get(claim.job.id))
                if said != "terminal" and self.rt.clock.now() - claim.watched_since > self.cfg.job_timeout:
                    await self._time_out(claim, lost=said == "unknown")
        finally:
            await self.rt.store.release_polls(self.owner, [c.job.id for c in batch])

    async def release(self, units: list[list[PollClaim]]) -> None:
        await self.rt.store.release_polls(self.owner, [c.job.id for batch in units for c in batch])

    async def _apply(self, claim: PollClaim, polled: Polled | None) -> str:
        """Record what the upstream said; return ``terminal``, ``unknown`` or ``waiting``."""
        job, metrics = claim.job, self.rt.metrics
        if polled is None:
            return "waiting"  # no upstream id yet: nothing to ask, only the timeout applies
        if polled.error is not None:
            metrics.reconciler_polls.labels(job.provider, "error").inc()
            log.info("poll failed: %s", polled.error, extra={"job_id": job.id, "provider": job.provider})
            return "waiting"
        reading = read_poll(job.provider, polled.body)
        if reading.kind == "unknown" or polled.body is None:
            metrics.reconciler_polls.labels(job.provider, "unknown").inc()
            log.debug(
                "the upstream says nothing about this job yet", extra={"job_id": job.id, "provider": job.provider}
            )
            return "unknown"
        inbound = self.heard(
            job.provider,
            "poll",
            polled.body,
            content_type=polled.content_type,
            snapshot=reading.snapshot,
            reject_reason=reading.problem,
        )
        result = await ingest.record(self.rt, inbound)
        metrics.reconciler_polls.labels(job.provider, result.outcome).inc()
        if result.outcome == "applied":
            log.info("reconciled from a poll", extra={"job_id": job.id, "provider": job.provider})
        snapshot = reading.snapshot
        return "terminal" if snapshot is not None and snapshot.status in TERMINAL else "waiting"

    async def _time_out(self, claim: PollClaim, *, lost: bool) -> None:
        job = claim.job
        if lost:
            error = statemachine.LOST_UPSTREAM
            detail = (
                f"{job.provider} no longer knows the task (its polls answer 'unknown') and HOOKLINE_JOB_TIMEOUT "
                f"({self.cfg.job_timeout:g} s) has passed since it got the job"
            )
        else:
            error = statemachine.TIMEOUT
            detail = (
                f"no final status from {job.provider} within HOOKLINE_JOB_TIMEOUT "
                f"({self.cfg.job_timeout:g} s) after it got the job"
            )
        # The upstream's last word stays the job's snapshot (it is what subscribers get as
        # data.upstream); why hookline gave up is noted with the timeout in the job's timeline.
        raw = job.upstream if job.upstream is not None else {"error": error, "detail": detail}
        snapshot = statemachine.own_verdict(job.upstream_id, job.id, error, raw)
        inbound = self.heard(job.provider, "timeout", orjson.dumps(raw), snapshot=snapshot, note=detail)
        result = await ingest.record(self.rt, inbound)
        self.rt.metrics.reconciler_polls.labels(job.provider, "timeout").inc()
        log.warning(
            "job timed out (%s)", error, extra={"job_id": job.id, "provider": job.provider, "outcome": result.outcome}
        )
