"""``GET /dashboard/live``: what the dashboard's script polls to update a page in place.

Polling a small JSON answer every few seconds rather than holding a server-sent-events stream
open: it survives proxies and restarts, costs nothing when no page is open, and never delays a
graceful shutdown. The page says what it shows (``jobs=``, ``deliveries=`` ids, ``job=`` for a
job page, its list filters); the answer carries only those, read with cheap queries.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.http import JSONResponse, query_choice, query_text
from hookline.dashboard import chains
from hookline.dashboard.session import Session, Sessions, live
from hookline.dashboard.state import delivery_state, job_counts, job_state
from hookline.errors import InputError
from hookline.models import PROVIDERS, STATUSES
from hookline.queries import JobQuery
from hookline.runtime import Runtime

MAX_JOBS = 100
MAX_DELIVERIES = 200
_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _ids(request: Request, name: str, most: int) -> list[str]:
    raw = request.query_params.get(name, "")
    ids = [part for part in raw.split(",") if part]
    if len(ids) > most or not all(_ID.match(i) for i in ids):
        raise InputError(f"{name} must be at most {most} comma-separated ids", code="invalid_query")
    return list(dict.fromkeys(ids))


def routes(rt: Runtime, sessions: Sessions) -> list[Route]:
    store = rt.store

    async def poll(request: Request, session: Session) -> Response:
        answer: dict[str, Any] = {"jobs": {}, "deliveries": {}, "counts": {}}
        for job_id in _ids(request, "jobs", MAX_JOBS):
            job = await store.get_job(job_id)
            if job is not None:
                answer["jobs"][job_id] = await job_state(store, job)
        found = [await store.get_delivery(i) for i in _ids(request, "deliveries", MAX_DELIVERIES)]
        deliveries = [d for d in found if d is not None]
        ctx = await chains.context(store, deliveries)
        for delivery in deliveries:
            answer["deliveries"][delivery.id] = delivery_state(delivery, ctx)
        for job_id in _ids(request, "job", 1):
            job = await store.get_job(job_id)
            if job is not None:
                answer["counts"][job_id] = await job_counts(store, job)
        if request.query_params.get("watch_new"):
            newest = await store.list_jobs(
                JobQuery(
                    status=query_choice(request, "status", STATUSES),
                    provider=query_choice(request, "provider", PROVIDERS),
                    correlation_key=query_text(request, "q"),
                    limit=1,
                )
            )
            answer["newest"] = newest.items[0].id if newest.items else ""
        return JSONResponse(answer, headers={"cache-control": "no-store"})

    return [Route("/dashboard/live", live(sessions, poll), methods=["GET"])]
