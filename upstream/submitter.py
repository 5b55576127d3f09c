"""The submit queue: sends the blends ``POST /v1/blend`` queued, and applies the upstreams' answers.

The queue is the ``submissions`` table, so nothing is lost across a restart. A due submission is
claimed with a lease, sent, and its answer goes through the job state machine in the same
transaction that marks it ``sent`` or ``refused`` (``store.finish_submission``, source ``submit``).
Temporary trouble is not a verdict: a full upstream queue (mjproxy code 23, useapi 429), an
upstream that cannot be reached or does not answer in time, HTTP 408/425/429/5xx, or an
aggregator's "busy" (new-api code 30, ``do_request_failed``) puts the submission back with a random
back-off (``HOOKLINE_SUBMIT_BACKOFF``, 10-30 s), the job still ``queued``. Once
``HOOKLINE_SUBMIT_GIVE_UP`` (1800 s) has passed since hookline accepted the blend, the next such
answer fails the job with the upstream's last message. For useapi, the claim itself keeps
hookline's own running jobs per channel at ``HOOKLINE_USEAPI_MAX_JOBS``.

Sending is at least once: if hookline dies after the upstream took a blend but before the answer
was committed, the lease expires and the blend is sent again.
"""

from __future__ import annotations

import logging
import random

import orjson

from hookline.errors import UpstreamError
from hookline.runtime import Runtime
from hookline.upstream_work import SubmissionClaim
from receiver import ingest
from upstream.client import Answer, SubmitOutcome, UpstreamClient, failed, raw_of
from upstream.providers import build_clients
from upstream.worker import Worker

log = logging.getLogger(__name__)
CONCURRENCY = 16


class SubmitQueue(Worker[SubmissionClaim]):
    name = "submit-queue"

    def __init__(self, rt: Runtime, *, rng: random.Random | None = None, owner: str | None = None) -> None:
        super().__init__(rt, concurrency=CONCURRENCY, owner=owner)
        self.clients: dict[str, UpstreamClient] = build_clients(rt.config.upstream)
        self.cfg = rt.config.upstream
        self.rng = rng or random.Random()
        self.lease = self.cfg.timeout + 30.0  # longer than one request, so no one else sends it meanwhile

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def claim(self, limit: int) -> list[SubmissionClaim]:
        return await self.rt.store.claim_submissions(
            self.owner, limit, self.rt.clock.now(), self.lease, self.cfg.useapi_max_jobs
        )

    async def handle(self, claim: SubmissionClaim) -> None:
        client = self.clients.get(claim.provider)
        if client is None:
            await self._refuse(claim, f"provider {claim.provider} is no longer configured on this hookline")
            return
        try:
            outcome = await client.submit(claim.job_id, claim.request, self.rt.callback_url(claim.provider))
        except UpstreamError as exc:
            if exc.retryable:
                await self._trouble(claim, str(exc), None)
            else:
                await self._refuse(claim, str(exc))
            return
        if outcome.kind == "hold":
            await self._trouble(claim, outcome.reason or "the upstream's queue is full", outcome.answer)
            return
        await self._finish(claim, outcome)

    async def _trouble(self, claim: SubmissionClaim, reason: str, answer: Answer | None) -> None:
        """Temporary trouble: send again later, unless ``HOOKLINE_SUBMIT_GIVE_UP`` has passed."""
        if self.rt.clock.now() - claim.created_at < self.cfg.submit_give_up:
            await self._hold(claim, reason)
            return
        message = f"{reason} (gave up after HOOKLINE_SUBMIT_GIVE_UP={self.cfg.submit_give_up:g} s)"
        raw = raw_of(answer) if answer is not None else {"error": reason}
        await self._refuse(claim, message, raw)

    def backoff(self) -> float:
        low, high = self.cfg.submit_backoff
        return self.rng.uniform(low, high)

    async def _hold(self, claim: SubmissionClaim, reason: str) -> None:
        now = self.rt.clock.now()
        await self.rt.store.hold_submission(claim.job_id, self.owner, now + self.backoff(), reason, now)
        self.rt.metrics.submissions.labels(claim.provider, "held").inc()
        # The reason may quote the upstream's answer: it is on the job (submission.last_error), not in logs.
        log.info(
            "blend held for later (GET /v1/jobs/%s shows why)",
            claim.job_id,
            extra={"job_id": claim.job_id, "provider": claim.provider, "attempt": claim.attempts + 1},
        )

    async def _finish(self, claim: SubmissionClaim, outcome: SubmitOutcome) -> None:
        answer = outcome.answer
        inbound = self.heard(
            claim.provider, "submit", answer.body, content_type=answer.content_type, snapshot=outcome.snapshot
        )
        await ingest.record_submission(self.rt, claim.job_id, inbound, sent=outcome.kind == "sent")
        self.rt.metrics.submissions.labels(claim.provider, outcome.kind).inc()
        log.info(
            "blend %s by %s",
            "accepted" if outcome.kind == "sent" else "refused",
            claim.provider,
            extra={"job_id": claim.job_id, "provider": claim.provider, "status": answer.status},
        )

    async def _refuse(self, claim: SubmissionClaim, reason: str, raw: object = None) -> None:
        """Fail the job with ``reason``; ``raw`` is the upstream's last answer to show, if any."""
        raw = raw if raw is not None else {"error": reason}
        inbound = self.heard(claim.provider, "submit", orjson.dumps(raw), snapshot=failed(claim.job_id, reason, raw))
        await ingest.record_submission(self.rt, claim.job_id, inbound, sent=False)
        self.rt.metrics.submissions.labels(claim.provider, "error").inc()
        log.warning("blend not sent: %s", reason, extra={"job_id": claim.job_id, "provider": claim.provider})
