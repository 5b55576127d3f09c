"""The simulated useapi.net Midjourney API (v1 routes, answered by v2 as since 2024-03-01).

``POST /v1/jobs/blend`` answers 200 with the job (status ``started``); 401 without the token (when
one is required); 400 — v2's answer where v1 documented 412 — when ``blendUrls`` is missing, not 2
to 5 http(s) URLs, or (with ``useapi_require_account``) ``discord``/``server``/``channel`` is
missing, and for a bad ``blendDimensions`` or ``maxJobs``; 413 when ``replyRef`` or ``replyUrl`` is
over 1024 characters;
422 ``{error, jobid, status: "moderated", code}`` for a moderated blend (a ``moderated`` callback
follows, as useapi's v2 examples expect); 429 ``{error, executingJobs, code}`` while ``maxJobs``
(or the ``useapi_slots`` knob) jobs run; with ``submit_trouble``, a reverse proxy's 502.
``GET /v1/jobs/?jobid=`` answers the job, 404 when unknown (and, with ``blank_polls``, sometimes
for a job it has).

Callbacks to ``replyUrl`` carry the whole job: ``started``, ``progress`` (15, 46, 78 % in
``content``), then ``completed`` with ``attachments[0].url`` (or ``failed`` with ``error``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.engine import CHANNEL, SERVER, SimTask, Simulator, Step
from simulator.mjproxy import BAD_GATEWAY

DIMENSIONS = {"Portrait": ("portrait", "2:3"), "Square": ("square", "1:1"), "Landscape": ("landscape", "3:2")}
PROGRESS = (15, 46, 78)
MISSING = "blendUrls, discord, server or channel value is missing"
BAD_URLS = (
    "blendUrls, discord, server or channel value is missing, one of blendUrls values not a valid URL "
    "or URL which can not be retrieved"
)
QUEUE_FULL = "API query is full and can not accept new jobs/blend requests"
MODERATED = "Unable to find posted message, likely moderated or invalid url"
USER = "1012983546824114217"


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _error(code: int, message: str, **extra: Any) -> Response:
    return _json({"error": message, **extra, "code": code}, code)


def _iso(ms: int | None = None) -> str:
    dt = datetime.now(UTC) if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def routes(sim: Simulator) -> list[Route]:
    def authorized(request: Request) -> bool:
        token = sim.knobs.useapi_token
        return token is None or request.headers.get("authorization") == f"Bearer {token}"

    async def submit(request: Request) -> Response:
        body = await sim.record(request)
        if sim.knobs.answer_delay:
            await asyncio.sleep(sim.knobs.answer_delay)
        if sim.chance(sim.knobs.submit_trouble):
            return Response(BAD_GATEWAY, status_code=502, media_type="text/html")
        if not authorized(request):
            return _error(401, "Unauthorized")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "The body must be JSON")
        if not isinstance(doc, dict):
            return _error(400, "The body must be a JSON object")
        urls = doc.get("blendUrls")
        if not urls:
            return _error(400, MISSING)
        if not isinstance(urls, list) or not 2 <= len(urls) <= 5 or not all(_is_url(u) for u in urls):
            return _error(400, BAD_URLS)
        if sim.knobs.useapi_require_account and not all(doc.get(k) for k in ("discord", "server", "channel")):
            return _error(400, MISSING)
        dimensions = doc.get("blendDimensions")
        if dimensions is not None and dimensions not in DIMENSIONS:
            return _error(400, "blendDimensions must be Portrait, Square or Landscape")
        max_jobs = doc.get("maxJobs", 3)
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or not 1 <= max_jobs <= 15:
            return _error(400, "maxJobs must be a number from 1 to 15")
        for name in ("replyRef", "replyUrl"):
            if isinstance(doc.get(name), str) and len(doc[name]) > 1024:
                return _error(413, "replyRef or replyUrl is too long")
        limit = sim.knobs.useapi_slots or max_jobs
        if sim.knobs.queue_full > 0 or sim.running["useapi"] >= limit:
            sim.knobs.queue_full = max(0, sim.knobs.queue_full - 1)
            running = [t.id for t in sim.tasks.values() if t.provider == "useapi" and t.running]
            return _error(429, QUEUE_FULL, executingJobs=running)

        ms = sim.millis()
        stamp = datetime.fromtimestamp(ms / 1000, UTC)
        jobid = (
            f"j{stamp:%m%d%H%M%S}{ms % 1000:03d}u12345c{doc.get('channel') or CHANNEL}s{doc.get('server') or SERVER}"
        )
        hook = doc.get("replyUrl") if isinstance(doc.get("replyUrl"), str) else None
        dims = DIMENSIONS[dimensions][0] if dimensions else "square"
        task = sim.new_task("useapi", jobid, hook, dims, str(request.base_url))
        task.extra.update(request=doc, created=ms, ar=DIMENSIONS[dimensions][1] if dimensions else "1:1")
        task.extra["prompt"] = sim.prompt(task, len(urls), task.extra["ar"])
        task.extra["message_id"] = sim.snowflake()
        if sim.should(task, sim.knobs.moderate):
            task.doc = _job(task, "moderated", error=MODERATED)
            task.finished = True
            task.truth = "moderated"
            sim.run(task, [lambda t: None])  # the moderated webhook follows the 422
            return _error(422, MODERATED, jobid=jobid, status="moderated")
        if sim.should(task, sim.knobs.fail):
            task.fail_at = task.rng.randint(2, 4)
        task.doc = _job(task, "started", content="(Waiting to start)")
        sim.begin(task)
        sim.run(task, _steps(sim, task))
        return _json(task.doc)

    async def get_job(request: Request) -> Response:
        await sim.record(request)
        if sim.knobs.answer_delay:
            await asyncio.sleep(sim.knobs.answer_delay)
        if not authorized(request):
            return _error(401, "Unauthorized")
        jobid = request.query_params.get("jobid")
        if not jobid:
            return _error(400, "Required param jobid is missing or empty")
        task = sim.tasks.get(("useapi", jobid))
        if task is None or sim.chance(sim.knobs.blank_polls):
            return _error(404, f"Job {jobid} not found")
        return _json(task.doc)

    return [
        Route("/v1/jobs/blend", submit, methods=["POST"]),
        Route("/v1/jobs/", get_job, methods=["GET"]),
        Route("/v1/jobs", get_job, methods=["GET"]),
    ]


def _job(task: SimTask, status: str, *, content: str | None = None, **extra: Any) -> dict[str, Any]:
    """The job object in useapi's v2 field order."""
    request = task.extra["request"]
    doc: dict[str, Any] = {
        "jobid": task.id,
        "verb": "blend",
        "status": status,
        "created": _iso(task.extra["created"]),
        "updated": _iso(),
        "blendUrls": request["blendUrls"],
    }
    if request.get("blendDimensions"):
        doc["blendDimensions"] = request["blendDimensions"]
    if "buttons" in extra:
        doc["buttons"] = extra.pop("buttons")
    if isinstance(request.get("discord"), str) and len(request["discord"]) > 6:
        doc["discord"] = f"{request['discord'][:3]}…{request['discord'][-3:]}"
    doc.update(channel=request.get("channel") or CHANNEL, server=request.get("server") or SERVER)
    doc["maxJobs"] = request.get("maxJobs", 3)
    for name in ("replyRef", "replyUrl"):
        if request.get(name) is not None:
            doc[name] = request[name]
    doc["messageId"] = task.extra["message_id"]
    doc["content"] = f"**{task.extra['prompt']}** - <@{USER}> {content or '(fast)'}"
    doc["timestamp"] = _iso(task.extra["created"])
    if "attachments" in extra:
        doc["attachments"] = extra.pop("attachments")
    doc["code"] = 200
    doc.update(extra)
    return doc


def _steps(sim: Simulator, task: SimTask) -> list[Step]:
    def started(t: SimTask) -> None:
        t.doc = _job(t, "started", content="(Waiting to start)")

    def progress(percent: int, index: int) -> Step:
        def step(t: SimTask) -> None:
            if t.fail_at == index:
                details = "Could not validate this link. Please try again later."
                embeds = [{"type": "rich", "description": details}]
                t.doc = _job(
                    t, "failed", content="(Waiting to start)", embeds=embeds, error="Invalid link", errorDetails=details
                )
                t.finished = True
                t.truth = "failed"
                return
            t.doc = _job(t, "progress", content=f"({percent}%) (fast)")

        return step

    def completed(t: SimTask) -> None:
        message_id = sim.snowflake()
        t.extra["message_id"] = message_id
        name = f"user_{uuid.UUID(int=t.rng.getrandbits(128))}.png"
        url = sim.link(t, message_id, name)
        image = sim.image_bytes(url.split("?", 1)[0].removeprefix(t.base_url))
        width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
        attachment = {
            "id": sim.snowflake(),
            "filename": name,
            "size": len(image),
            "url": url,
            "proxy_url": url,
            "width": width,
            "height": height,
            "content_type": "image/png",
        }
        buttons = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
        t.doc = _job(t, "completed", buttons=buttons, attachments=[attachment])
        t.truth = "succeeded"

    return [started, *(progress(p, i) for i, p in enumerate(PROGRESS, start=2)), completed]
