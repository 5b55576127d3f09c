"""useapi.net as an upstream: ``POST /v1/jobs/blend`` and ``GET /v1/jobs/?jobid=`` under
``HOOKLINE_USEAPI_URL`` with ``Authorization: Bearer HOOKLINE_USEAPI_TOKEN``.

Submit answers: 200 → the job object (status ``started``: ``submitted``); 429 (``maxJobs`` jobs
already run, or Discord's own rate limit) and other temporary trouble (408, 425, 5xx) → hold in
hookline's queue and send again later; 422 → ``moderated`` with useapi's message (the answer carries
the jobid and ``status: "moderated"``); anything else (400 — v2's validation errors —, 401, 402, 412,
413, ...) → ``failed`` with useapi's ``error``. ``maxJobs`` is sent only when
``HOOKLINE_USEAPI_MAX_JOBS`` is set, so the account's own setting applies otherwise.

useapi.net routes v1 to v2 since 2024-03-01, and its v2 pages say Midjourney support was
discontinued on 2026-06-24; hookline still submits and polls through the documented v1 routes.
Polls answered 204, 404, 410 or with an empty body are "unknown".
"""

from __future__ import annotations

from typing import Any

from hookline.config import UpstreamConfig
from hookline.errors import UpstreamError
from hookline.models import Job
from receiver.adapters import useapi as adapter
from receiver.adapters.common import AdapterError, text
from upstream.blend import DIMENSIONS
from upstream.client import Answer, Polled, SubmitOutcome, Transport, failed, raw_of, says_unknown, temporary


def blend_body(job_id: str, request: dict[str, Any], callback_url: str, cfg: UpstreamConfig) -> dict[str, Any]:
    """The ``JobsBlendPostRequest``: ``replyRef`` is the job id, ``replyUrl`` hookline. The Discord
    token is added here, at send time, so it is never stored with the queued request."""
    body: dict[str, Any] = {"blendUrls": request["images"]}
    if request.get("dimensions"):
        body["blendDimensions"] = DIMENSIONS["useapi"][request["dimensions"]]
    for name, value in (
        ("discord", cfg.useapi_discord),
        ("server", cfg.useapi_server),
        ("channel", cfg.useapi_channel),
    ):
        if value:
            body[name] = value
    if cfg.useapi_max_jobs_set:
        body["maxJobs"] = cfg.useapi_max_jobs
    body["replyUrl"] = callback_url
    body["replyRef"] = job_id
    return body


def interpret(job_id: str, answer: Answer) -> SubmitOutcome:
    """What a submit answer means for the job (see the module docstring)."""
    doc = answer.json()
    message = text(doc.get("error")) if isinstance(doc, dict) else None
    if answer.status == 429:
        running = doc.get("executingJobs") if isinstance(doc, dict) else None
        count = f"; {len(running)} jobs executing" if isinstance(running, list) else ""
        return SubmitOutcome(
            "hold", answer, reason=f"useapi maxJobs reached (429): {message or answer.excerpt()}{count}"
        )
    if temporary(answer):
        return SubmitOutcome(
            "hold", answer, reason=f"useapi answered HTTP {answer.status}: {message or answer.excerpt()}"
        )
    if answer.status in (200, 422) and isinstance(doc, dict):
        try:
            snapshot = adapter.parse(doc)
        except AdapterError:
            snapshot = None
        if snapshot is not None and answer.status == 200:
            snapshot.correlation_key = job_id  # v1 answers do not echo replyRef
            return SubmitOutcome("sent", answer, snapshot)
        if answer.status == 422:
            reason = message or "moderated"
            if snapshot is None or snapshot.status != "moderated":
                snapshot = failed(job_id, reason, doc, status="moderated", upstream_id=text(doc.get("jobid")))
            snapshot.correlation_key = job_id
            return SubmitOutcome("refused", answer, snapshot, reason)
    reason = f"HTTP {answer.status}: {message or answer.excerpt()}"
    return SubmitOutcome("refused", answer, failed(job_id, reason, raw_of(answer)), reason)


class UseapiClient:
    provider = "useapi"
    poll_batch = 10  # one GET per job: a small batch keeps one slow answer from holding many

    def __init__(self, cfg: UpstreamConfig) -> None:
        self.cfg = cfg
        headers = {"Authorization": f"Bearer {cfg.useapi_token}"} if cfg.useapi_token else {}
        self._http = Transport("useapi", cfg.useapi_url, headers, cfg.timeout)

    async def submit(self, job_id: str, request: dict[str, Any], callback_url: str) -> SubmitOutcome:
        body = blend_body(job_id, request, callback_url, self.cfg)
        return interpret(job_id, await self._http.request("POST", "/v1/jobs/blend", json=body))

    async def poll(self, jobs: list[Job]) -> list[Polled]:
        return [await self._get(job) for job in jobs if job.upstream_id is not None]

    async def _get(self, job: Job) -> Polled:
        try:
            answer = await self._http.request("GET", "/v1/jobs/", params={"jobid": job.upstream_id})
        except UpstreamError as exc:
            return Polled(job.id, None, error=str(exc))
        if says_unknown(answer):
            return Polled(job.id, None)
        if answer.status != 200:
            return Polled(job.id, None, error=f"GET /v1/jobs/ answered HTTP {answer.status}")
        return Polled(job.id, answer.body, answer.content_type)

    async def close(self) -> None:
        await self._http.close()
