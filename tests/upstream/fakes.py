"""Minimal fake upstreams for tests: a midjourney-proxy and a useapi.net that answer from a script.

Each answer is ``(status, body)`` (a dict body is sent as JSON); when a script runs out, its
``then`` answer is repeated. Submissions are accepted with task id ``T1`` (mjproxy) / jobid ``J1``
(useapi) unless the script says otherwise. Nothing ever calls back: what hookline learns, it learns
from the answers. Served by a real uvicorn server (``tests.support.run_server``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import fixture_json

Answer = tuple[int, Any]
MJ_OK: Answer = (200, {"code": 1, "description": "提交成功", "result": "T1", "properties": {}})
UA_OK: Answer = (200, {**fixture_json("useapi-blend-00b-submit-200-v2.json"), "jobid": "J1"})


def mj_task(status: str, **fields: Any) -> dict[str, Any]:
    """A midjourney-proxy task ``T1`` in ``status`` (from the fixtures)."""
    name = {"SUCCESS": "mjproxy-blend-10-success.json", "FAILURE": "mjproxy-blend-90-failure-timeout.json"}.get(
        status, "mjproxy-blend-06-in-progress-46.json"
    )
    return {**fixture_json(name), "id": "T1", "state": None, "status": status, **fields}


def ua_job(status: str) -> dict[str, Any]:
    """A useapi job ``J1`` in ``status`` (from the fixtures)."""
    name = (
        "useapi-blend-20-get-job-completed.json" if status == "completed" else "useapi-blend-01-get-job-progress.json"
    )
    return {**fixture_json(name), "jobid": "J1", "status": status}


@dataclass
class Script:
    answers: list[Answer] = field(default_factory=list)
    then: Answer = (200, b"")
    delay_first: float = 0.0  # seconds before the first answer (a hung upstream)
    calls: int = 0

    async def next(self) -> Response:
        self.calls += 1
        if self.calls == 1 and self.delay_first:
            await asyncio.sleep(self.delay_first)
        status, body = self.answers.pop(0) if self.answers else self.then
        if isinstance(body, bytes):
            return Response(body, status_code=status, media_type="text/html" if body else None)
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@dataclass
class FakeUpstream:
    """Both fake APIs; ``submit`` and ``poll`` script what they answer."""

    submit: Script = field(default_factory=lambda: Script(then=MJ_OK))
    poll: Script = field(default_factory=Script)

    def app(self) -> Starlette:
        async def submit(request: Request) -> Response:
            await request.body()
            return await self.submit.next()

        async def poll(request: Request) -> Response:
            return await self.poll.next()

        async def no_list(request: Request) -> Response:
            return Response(b"", status_code=404)  # so that hookline polls with fetch

        return Starlette(
            routes=[
                Route("/mj/submit/blend", submit, methods=["POST"]),
                Route("/mj/task/{task_id}/fetch", poll, methods=["GET"]),
                Route("/mj/task/list-by-condition", no_list, methods=["POST"]),
                Route("/v1/jobs/blend", submit, methods=["POST"]),
                Route("/v1/jobs/", poll, methods=["GET"]),
            ]
        )
