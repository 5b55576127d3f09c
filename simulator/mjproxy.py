"""The simulated midjourney-proxy (novicezk open source, with the plus family's ``botType``).

``POST /mj/submit/blend`` validates as ``SubmitController.blend`` does and answers a
``SubmitResultVO`` (HTTP 200 even for errors): code 1 "提交成功"; 22 (queued, with the number of
tasks ahead) when tasks already wait; 23 (queue full, ``result`` null) when the queue is full; 4
for a bad ``base64Array`` ("base64List参数错误", "base64格式错误") or a null ``dimensions``; 24 for a
banned prompt (the moderation knob). A body Jackson cannot read (not JSON, an unknown enum value) is
Spring's HTTP 400. ``GET /mj/task/{id}/fetch`` answers the task, or 200 with an empty body for an
unknown id; ``POST /mj/task/list-by-condition`` answers the known ones, waiting tasks first.

Callbacks follow the fixtures: SUBMITTED 0%, IN_PROGRESS 0% (prompt filled), IN_PROGRESS 0% again,
15, 31, 46, 62, 78, 93 %, then SUCCESS 100% with the final PNG (or FAILURE with ``progress`` "").
No callback while a task waits for a slot (NOT_START).
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

from simulator.engine import CHANNEL, SimTask, Simulator, Step

DIMENSIONS = {"PORTRAIT": ("portrait", "2:3"), "SQUARE": ("square", "1:1"), "LANDSCAPE": ("landscape", "3:2")}
BOT_TYPES = ("MID_JOURNEY", "NIJI_JOURNEY")
PROGRESS = ("15%", "31%", "46%", "62%", "78%", "93%")
# The proxy's own texts (ReturnCode, DiscordInstanceImpl), full-width commas and all.
QUEUE_FULL = "队列已满，请稍后尝试"  # noqa: RUF001
QUEUED = "排队中，前面还有{}个任务"  # noqa: RUF001
FAIL_REASON = "[Invalid link] Could not validate this link. Please try again later."
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w-]+=[\w.-]+)*;base64,([A-Za-z0-9+/=\s]+)$")


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _result(code: int, description: str, result: str | None, properties: dict[str, Any]) -> Response:
    return _json({"code": code, "description": description, "result": result, "properties": properties})


def _spring_400(path: str) -> Response:
    """What Spring answers when Jackson cannot read the body."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
    return _json({"timestamp": now, "status": 400, "error": "Bad Request", "path": path}, 400)


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
        if sim.should(task, sim.knobs.moderate):
            del sim.tasks[("mjproxy", task_id)]
            return _result(24, "可能包含敏感词", None, {"promptEn": "", "bannedWord": "blend"})
        task.doc = _new_doc(task, len(images), doc.get("state"), bot_type, sim.millis())
        task.extra["ar"] = DIMENSIONS[dimensions][1]
        task.extra["images"] = len(images)
        if sim.should(task, sim.knobs.fail):
            task.fail_at = task.rng.randint(4, 8)  # after a preview exists, which FAILURE keeps
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
            return Response(status_code=200)  # TaskController.fetch returns null: an empty body
        return _json(task.doc)

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
        return _json([t.doc for t in found])

    return [
        Route("/mj/submit/blend", submit, methods=["POST"]),
        Route("/mj/task/{task_id}/fetch", fetch, methods=["GET"]),
        Route("/mj/task/list-by-condition", list_by_condition, methods=["POST"]),
    ]


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

    def submitted(t: SimTask) -> None:
        doc.update(status="SUBMITTED", startTime=sim.millis(), progress="0%")

    def started(t: SimTask) -> None:
        prompt = sim.prompt(t, t.extra["images"], t.extra["ar"])
        props.update(progressMessageId=sim.snowflake(), finalPrompt=prompt)
        doc.update(status="IN_PROGRESS", prompt=prompt, promptEn=prompt, progress="0%")

    def zero_again(t: SimTask) -> None:
        props["messageHash"] = None  # Discord's "(0%)" update carries no attachment

    def progress(percent: str, index: int) -> Step:
        def step(t: SimTask) -> None:
            if t.fail_at == index:
                doc.update(status="FAILURE", progress="", failReason=FAIL_REASON, finishTime=sim.millis())
                t.finished = True
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

    return [
        submitted,
        started,
        zero_again,
        *(progress(p, i) for i, p in enumerate(PROGRESS, start=3)),
        success,
    ]
