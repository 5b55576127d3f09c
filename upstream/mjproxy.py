"""The midjourney-proxy family as an upstream: ``POST /mj/submit/blend``, ``GET /mj/task/{id}/fetch``
and ``POST /mj/task/list-by-condition`` under ``HOOKLINE_MJPROXY_URL`` (``mj-api-secret`` header
when ``HOOKLINE_MJPROXY_TOKEN`` is set).

Submit answers (``SubmitResultVO``, HTTP 200 even for errors; ``result`` may be a JSON number on
aggregators): code 1 → the job is ``submitted`` with the task id; 22 → ``queued`` (the proxy's own
queue; callbacks come when it starts); 23 (queue full; ``result`` is null there) and temporary
trouble → hold in hookline's queue and send again later. Temporary trouble is HTTP 408, 425, 429 or
5xx (a reverse proxy's 502; new-api's code 30 "group saturated" is a 429) and new-api's HTTP 400
``do_request_failed`` (its own upstream was unreachable). Anything else (4 validation, 3 no account,
another non-200) → ``failed`` with the upstream's description.

Polls: ``fetch`` answers of an unknown task (empty body, 204, 404, 410, new-api's 400
``task_no_found``) are "unknown" (:func:`~upstream.client.says_unknown`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from hookline.errors import UpstreamError
from hookline.models import Job, Snapshot
from receiver.adapters.common import normalize_progress, text
from upstream.blend import BOT_TYPES, DIMENSIONS
from upstream.client import Answer, Polled, SubmitOutcome, Transport, failed, raw_of, says_unknown, temporary

ACCEPTED = {1: "submitted", 22: "queued"}
QUEUE_FULL = 23
BUSY = 30  # new-api: the user's group is saturated
DO_REQUEST_FAILED = b"do_request_failed"  # new-api: it could not reach its own upstream


def blend_body(job_id: str, request: dict[str, Any], callback_url: str) -> dict[str, Any]:
    """The ``SubmitBlendDTO`` for a queued request: ``state`` is the job id, ``notifyHook`` hookline."""
    body: dict[str, Any] = {"base64Array": request["images"]}
    if request.get("dimensions"):
        body["dimensions"] = DIMENSIONS["mjproxy"][request["dimensions"]]
    if request.get("bot_type"):
        body["botType"] = BOT_TYPES[request["bot_type"]]
    body["notifyHook"] = callback_url
    body["state"] = job_id
    return body


def _code(value: Any) -> int | None:
    found = text(value)
    return int(found) if found is not None and found.lstrip("-").isdigit() else None


def interpret(job_id: str, answer: Answer) -> SubmitOutcome:
    """What a submit answer means for the job (see the module docstring)."""
    doc = answer.json()
    message = f"mjproxy answered HTTP {answer.status}: {answer.excerpt()}"
    if temporary(answer) or (answer.status == 400 and DO_REQUEST_FAILED in answer.body):
        return SubmitOutcome("hold", answer, reason=message)
    if answer.status != 200 or not isinstance(doc, dict) or "code" not in doc:
        return SubmitOutcome("refused", answer, failed(job_id, message, raw_of(answer)), message)
    code = _code(doc.get("code"))
    description = text(doc.get("description")) or "(no description)"
    task_id = text(doc.get("result"))
    if code in ACCEPTED and task_id is not None:
        status = ACCEPTED[code]
        snapshot = Snapshot(task_id, job_id, status, normalize_progress(status, None), action="blend", raw=doc)
        return SubmitOutcome("sent", answer, snapshot)
    if code == QUEUE_FULL:
        return SubmitOutcome("hold", answer, reason=f"mjproxy queue full (code 23): {description}")
    if code == BUSY:
        return SubmitOutcome("hold", answer, reason=f"mjproxy busy (code 30): {description}")
    message = f"code {doc.get('code')}: {description}"
    if code in ACCEPTED:
        message += " (but no task id in 'result')"
    return SubmitOutcome("refused", answer, failed(job_id, message, doc), message)


class MjproxyClient:
    provider = "mjproxy"
    poll_batch = 50

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        headers = {"mj-api-secret": token} if token else {}
        self._http = Transport("mjproxy", base_url, headers, timeout)

    async def submit(self, job_id: str, request: dict[str, Any], callback_url: str) -> SubmitOutcome:
        answer = await self._http.request("POST", "/mj/submit/blend", json=blend_body(job_id, request, callback_url))
        return interpret(job_id, answer)

    async def poll(self, jobs: list[Job]) -> list[Polled]:
        """One job: ``fetch``; several: one ``list-by-condition`` (unknown ids are left out of its
        answer), falling back to ``fetch`` each where a proxy lacks it."""
        wanted = [j for j in jobs if j.upstream_id is not None]
        if len(wanted) > 1:
            answer = await self._http.request(
                "POST", "/mj/task/list-by-condition", json={"ids": [j.upstream_id for j in wanted]}
            )
            if answer.status not in (404, 405):
                return self._from_list(wanted, answer)
        return [await self._fetch(job) for job in wanted]

    def _from_list(self, jobs: list[Job], answer: Answer) -> list[Polled]:
        doc = answer.json()
        if answer.status != 200 or not isinstance(doc, list):
            error = f"list-by-condition answered HTTP {answer.status}"
            return [Polled(j.id, None, error=error) for j in jobs]
        by_id = {text(t.get("id")): t for t in doc if isinstance(t, dict)}
        return [
            Polled(j.id, orjson.dumps(by_id[j.upstream_id]), "application/json")
            if j.upstream_id in by_id
            else Polled(j.id, None)
            for j in jobs
        ]

    async def _fetch(self, job: Job) -> Polled:
        try:
            answer = await self._http.request("GET", f"/mj/task/{quote(job.upstream_id or '', safe='')}/fetch")
        except UpstreamError as exc:
            return Polled(job.id, None, error=str(exc))
        if says_unknown(answer):
            return Polled(job.id, None)  # e.g. TaskController.fetch: unknown id → 200, empty body
        if answer.status != 200:
            return Polled(job.id, None, error=f"fetch answered HTTP {answer.status}")
        return Polled(job.id, answer.body, answer.content_type)

    async def close(self) -> None:
        await self._http.close()
