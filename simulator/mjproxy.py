"""The simulated midjourney-proxy (novicezk open source, with the plus family's ``botType``).

``POST /mj/submit/blend`` validates as ``SubmitController.blend`` does and answers a
``SubmitResultVO`` (HTTP 200 even for errors): code 1 "提交成功"; 22 (queued, with the number of
tasks ahead) when tasks already wait; 23 (queue full, ``result`` null) when the queue is full; 4
for a bad ``base64Array`` ("base64List参数错误", "base64格式错误") or a null ``dimensions``. The blend
endpoint never checks banned words, so moderation arrives later, as a FAILURE with a text. A body
Jackson cannot read (not JSON, an unknown enum value) is Spring's HTTP 400. In front of it, the bad-day
knobs answer a reverse proxy's 502 or new-api's "busy" (HTTP 429 code 30, HTTP 400
``do_request_failed``) without making a task. ``GET /mj/task/{id}/fetch`` answers the task (or, with
``blank_polls``, new-api's ``status: ""``); an unknown id is answered as ``mjproxy_unknown`` says: 200
with an empty body (novicezk), 204 (trueai), 404, or 400 ``task_no_found`` (new-api).
``POST /mj/task/list-by-condition`` answers the known ones, waiting tasks first. ``GET
/mj/image/{id}`` serves a task's image, as new-api forwards it.

Callbacks follow the fixtures: SUBMITTED 0%, IN_PROGRESS 0% (prompt filled), IN_PROGRESS 0% again,
15, 31, 46, 62, 78, 93 %, then SUCCESS 100% with the final PNG (or FAILURE with ``progress`` "").
No callback while a task waits for a slot (NOT_START). The knobs make a task fail at once
(``[Internal Server Error] …``, the first and only callback), be moderated (``[Image denied] …``) or
cancelled (``取消任务``), or follow its SUCCESS with a late ``任务超时`` FAILURE.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import flavours
from simulator.engine import CHANNEL, SimTask, Simulator, Step

DIMENSIONS = {"PORTRAIT": ("portrait", "2:3"), "SQUARE": ("square", "1:1"), "LANDSCAPE": ("landscape", "3:2")}
BOT_TYPES = ("MID_JOURNEY", "NIJI_JOURNEY")
PROGRESS = ("15%", "31%", "46%", "62%", "78%", "93%")
# The proxy's own texts (ReturnCode, DiscordInstanceImpl), full-width commas and all.
QUEUE_FULL = "队列已满，请稍后尝试"  # noqa: RUF001
QUEUED = "排队中，前面还有{}个任务"  # noqa: RUF001
FAIL_REASON = "[Invalid link] Could not validate this link. Please try again later."
INTERNAL_ERROR = "[Internal Server Error] Connection reset by peer"
MODERATED = "[Image denied] Sorry! Our AI moderator thinks this image is not allowed."
CANCELLED = "取消任务"
TIMED_OUT = "任务超时"
BUSY = "当前分组负载已饱和，请稍后再试，或升级账户以提升服务质量。"  # noqa: RUF001
BAD_GATEWAY = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
)
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w-]+=[\w.-]+)*;base64,([A-Za-z0-9+/=\s]+)$")


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _result(code: int, description: str, result: str | None, properties: dict[str, Any]) -> Response:
    return _json({"code": code, "description": description, "result": result, "properties": properties})


def _spring_400(path: str) -> Response:
    """What Spring answers when Jackson cannot read the body."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
    return _json({"timestamp": now, "status": 400, "error": "Bad Request", "path": path}, 400)


def _trouble(sim: Simulator) -> Response | None:
    """What stands in front of the proxy on a bad day: a reverse proxy's 502, new-api's "busy"."""
    if sim.chance(sim.knobs.submit_trouble):
        return Response(BAD_GATEWAY, status_code=502, media_type="text/html")
    if sim.chance(sim.knobs.busy):
        if sim.chance(0.5):
            return _json({"description": BUSY, "type": "upstream_error", "code": 30}, 429)
        return _json({"description": "do_request_failed ", "type": "upstream_error", "code": 4}, 400)
    return None


def _unknown(how: str) -> Response:
    """How a fetch of an unknown task is answered (see the module docstring)."""
    if how == "204":
        return Response(status_code=204)
    if how == "404":
        return Response(b"Not Found", status_code=404, media_type="text/plain")
    if how == "400":
        return _json({"description": "task_no_found", "type": "upstream_error", "code": 4}, 400)
    return Response(status_code=200)  # TaskController.fetch returns null: an empty body


def _object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None where Jackson would refuse it."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _valid_data_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _DATA_URL.match(value)
    if match is None:
        return False
    try:
        base64.b64decode("".join(match.group(3).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def routes(sim: Simulator) -> list[Route]:
    async def authorized(request: Request) -> bool:
        secret = sim.knobs.mjproxy_secret
        return secret is None or request.headers.get("mj-api-secret") == secret

    async def submit(request: Request) -> Response:
        body = await sim.record(request)
        if sim.knobs.answer_delay:
            await asyncio.sleep(sim.knobs.answer_delay)
        trouble = _trouble(sim)
        if trouble is not None:
            return trouble
        if not await authorized(request):
            return Response(status_code=401)
        doc = _object(body)
        if doc is None:
            return _spring_400(request.url.path)
        dimensions = doc.get("dimensions", "SQUARE")
        bot_type = doc.get("botType")
        if (dimensions is not None and dimensions not in DIMENSIONS) or (
            bot_type is not None and bot_type not in BOT_TYPES
        ):
            return _spring_400(request.url.path)  # an unknown enum constant: Jackson refuses the body
        images = doc.get("base64Array")
        if not isinstance(images, list) or not 2 <= len(images) <= 5:
            return _result(4, "base64List参数错误", None, {})
        if dimensions is None:
            return _result(4, "dimensions参数错误", None, {})
        if not all(_valid_data_url(image) for image in images):
            return _result(4, "base64格式错误", None, {})
        if sim.knobs.queue_full > 0:
            sim.knobs.queue_full -= 1
            return _result(23, QUEUE_FULL, None, {"discordInstanceId": CHANNEL})
        if len(sim.waiting) >= sim.knobs.mjproxy_queue and sim.running["mjproxy"] >= sim.knobs.mjproxy_slots:
            return _result(23, QUEUE_FULL, None, {"discordInstanceId": CHANNEL})

        task_id = f"{sim.millis()}{sim.random3():03d}"
        hook = doc.get("notifyHook") if isinstance(doc.get("notifyHook"), str) else None
        task = sim.new_task("mjproxy", task_id, hook, DIMENSIONS[dimensions][0], str(request.base_url))
        task.doc = _new_doc(task, len(images), doc.get("state"), bot_type, sim.millis())
        task.extra["ar"] = DIMENSIONS[dimensions][1]
        task.extra["images"] = len(images)
        if sim.should(task, sim.knobs.fail):
            task.fail_at = task.rng.randint(4, 8)  # after a preview exists, which FAILURE keeps
        knobs = sim.knobs
        for fate in ("moderate", "first_failure", "cancel", "late_failure"):
            task.extra[fate] = sim.should(task, getattr(knobs, fate))
        if task.extra["cancel"]:
            task.extra["cancel_at"] = task.rng.randint(3, 8)
        if knobs.mjproxy_flavour != "novicezk":
            flavours.dress(task, flavours.choose(knobs.mjproxy_flavour, task.rng))
        ahead = len(sim.waiting)
        if sim.running["mjproxy"] < sim.knobs.mjproxy_slots:
            _start(sim, task)
        else:
            sim.waiting.append(task)
        if ahead == 0:
            # midjourney-proxy says "submitted" whenever nothing waits ahead, even if the task must
            # still wait for a running one to finish (DiscordInstanceImpl.submitTask).
            return _result(1, "提交成功", task_id, {"discordInstanceId": CHANNEL})
        return _result(22, QUEUED.format(ahead), task_id, {"numberOfQueues": ahead, "discordInstanceId": CHANNEL})

    async def fetch(request: Request) -> Response:
        await sim.record(request)
        if not await authorized(request):
            return Response(status_code=401)
        task = sim.tasks.get(("mjproxy", request.path_params["task_id"]))
        if task is None:
            return _unknown(sim.knobs.mjproxy_unknown)
        return _json(_polled(sim, task))

    async def list_by_condition(request: Request) -> Response:
        body = await sim.record(request)
        if not await authorized(request):
            return Response(status_code=401)
        doc = _object(body)
        if doc is None:
            return _spring_400(request.url.path)
        ids = doc.get("ids")
        if not isinstance(ids, list):
            return _json([])
        found = [t for i in ids if isinstance(i, str) and (t := sim.tasks.get(("mjproxy", i))) is not None]
        found.sort(key=lambda t: t.doc["status"] != "NOT_START")  # waiting tasks first
        return _json([_polled(sim, t) for t in found])

    async def image(request: Request) -> Response:
        """new-api's forwarded image link: the task's current image, whatever ``rand`` says."""
        await sim.record(request)
        task = sim.tasks.get(("mjproxy", request.path_params["task_id"]))
        link = task.doc.get("imageUrl") if task is not None else None
        if task is None or not isinstance(link, str):
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        return Response(sim.image_bytes(link.split("?", 1)[0].removeprefix(task.base_url)), media_type="image/png")

    return [
        Route("/mj/submit/blend", submit, methods=["POST"]),
        Route("/mj/task/{task_id}/fetch", fetch, methods=["GET"]),
        Route("/mj/task/list-by-condition", list_by_condition, methods=["POST"]),
        Route("/mj/image/{task_id}", image, methods=["GET"]),
    ]


def _polled(sim: Simulator, task: SimTask) -> dict[str, Any]:
    """The task as a poll shows it; with ``blank_polls``, as new-api does before its update loop ran."""
    shown = sim.shown(task, "poll")
    return {**shown, "status": ""} if sim.chance(sim.knobs.blank_polls) else shown


def _new_doc(task: SimTask, count: int, state: Any, bot_type: Any, submit_ms: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "notifyHook": task.hook,
        "nonce": str(task.rng.getrandbits(60)),
        "discordInstanceId": CHANNEL,
    }
    if bot_type is not None:
        properties["botType"] = bot_type
    return {
        "id": task.id,
        "properties": properties,
        "action": "BLEND",
        "status": "NOT_START",
        "prompt": None,
        "promptEn": None,
        "description": f"/blend {task.id} {count}",
        "state": state,
        "submitTime": submit_ms,
        "startTime": None,
        "finishTime": None,
        "imageUrl": None,
        "progress": "0%",
        "failReason": None,
    }


def _start(sim: Simulator, task: SimTask) -> None:
    sim.begin(task)
    sim.run(task, _steps(sim, task), on_finish=lambda _: _next(sim))


def _next(sim: Simulator) -> None:
    """A slot is free: start the oldest waiting task."""
    while sim.waiting and sim.running["mjproxy"] < sim.knobs.mjproxy_slots:
        _start(sim, sim.waiting.pop(0))


def _steps(sim: Simulator, task: SimTask) -> list[Step]:
    doc, props = task.doc, task.doc["properties"]

    def fail(t: SimTask, reason: str, truth: str) -> None:
        doc.update(status="FAILURE", progress="", failReason=reason, finishTime=sim.millis())
        t.truth = truth
        t.finished = True

    def submitted(t: SimTask) -> None:
        if t.extra.get("first_failure"):  # the executor failed: FAILURE is the first and only callback
            fail(t, INTERNAL_ERROR, "failed")
            return
        doc.update(status="SUBMITTED", startTime=sim.millis(), progress="0%")

    def started(t: SimTask) -> None:
        if t.extra.get("moderate"):
            fail(t, MODERATED, "moderated")
            return
        prompt = sim.prompt(t, t.extra["images"], t.extra["ar"])
        props.update(progressMessageId=sim.snowflake(), finalPrompt=prompt)
        doc.update(status="IN_PROGRESS", prompt=prompt, promptEn=prompt, progress="0%")

    def zero_again(t: SimTask) -> None:
        props["messageHash"] = None  # Discord's "(0%)" update carries no attachment

    def progress(percent: str, index: int) -> Step:
        def step(t: SimTask) -> None:
            if t.fail_at == index:
                fail(t, FAIL_REASON, "failed")
                return
            if t.extra.get("cancel_at") == index:
                fail(t, CANCELLED, "cancelled")
                return
            props["messageHash"] = "0"  # DiscordHelper.getMessageHash mis-reads ?ex= links (PROVIDERS.md §1.4)
            name = f"{uuid.UUID(int=t.rng.getrandbits(128))}_grid_0.webp"
            doc.update(progress=percent, imageUrl=sim.link(t, props["progressMessageId"], name, preview=True))

        return step

    def success(t: SimTask) -> None:
        image_id = str(uuid.UUID(int=t.rng.getrandbits(128)))
        message_id = sim.snowflake()
        props.update(messageHash=image_id, messageId=message_id, flags=0)
        url = sim.link(t, message_id, f"novice_{image_id}.png")
        doc.update(status="SUCCESS", progress="100%", finishTime=sim.millis(), imageUrl=url)
        t.truth = "succeeded"
        late = []
        if flavours.terminal_twice(t):
            late.append(orjson.dumps(sim.shown(t, "callback")))
        if t.extra.get("late_failure"):  # the timeout scheduler racing the success; fetch still says SUCCESS
            failure = {**doc, "status": "FAILURE", "progress": "", "failReason": TIMED_OUT}
            late.append(orjson.dumps(sim.rendered(t, failure, "callback")))
        t.extra["late_callbacks"] = late

    return [
        submitted,
        started,
        zero_again,
        *(progress(p, i) for i, p in enumerate(PROGRESS, start=3)),
        success,
    ]
