"""``/v1/jobs``: register a job ahead of its callbacks, list jobs, show one with its timeline, and
erase jobs (one, or every one with a correlation key or key prefix)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api import fields
from hookline.api.auth import scoped
from hookline.api.http import (
    JSONResponse,
    page_body,
    path_id,
    query_choice,
    query_cursor,
    query_limit,
    query_text,
    read_json_object,
)
from hookline.api.subscriptions import build_subscription
from hookline.changes import NewJob
from hookline.errors import InputError, NotFound
from hookline.models import PROVIDERS, STATUSES
from hookline.queries import DeliveryQuery, JobQuery
from hookline.retention import erase_jobs, erase_matching
from hookline.runtime import Runtime

JOB_FIELDS = ("provider", "correlation_key", "upstream_id", "metadata", "callback_url")


def routes(rt: Runtime) -> list[Route]:
    store = rt.store

    async def register(request: Request) -> Response:
        doc = await read_json_object(request, rt.config.max_body_bytes)
        fields.only(doc, JOB_FIELDS)
        provider = fields.choice(doc, "provider", PROVIDERS, required=True)
        key = fields.required_text(doc, "correlation_key", max_length=1024)
        upstream_id = fields.text(doc, "upstream_id", max_length=256)
        metadata = fields.json_object(doc, "metadata") or {}
        callback_url = fields.http_url(doc, "callback_url")
        now = rt.clock.now()
        subscription = None
        if callback_url is not None:
            subscription = await build_subscription(rt, {"url": callback_url}, now, field_name="callback_url")
        assert provider is not None
        job = await store.register_job(
            NewJob(
                provider=provider,
                correlation_key=key,
                upstream_id=upstream_id,
                metadata=metadata,
                subscription=subscription,
            ),
            now,
        )
        body = job.to_api()
        if subscription is not None:
            body["subscription"] = {"id": subscription.id, "secret": subscription.secret}
        return JSONResponse(body, status_code=201)

    async def list_jobs(request: Request) -> Response:
        page = await store.list_jobs(
            JobQuery(
                status=query_choice(request, "status", STATUSES),
                provider=query_choice(request, "provider", PROVIDERS),
                correlation_key=query_text(request, "correlation_key"),
                limit=query_limit(request),
                cursor=query_cursor(request, "job"),
            )
        )
        return JSONResponse(page_body([j.to_api() for j in page.items], page.next_cursor))

    async def show(request: Request) -> Response:
        return JSONResponse(await job_detail(rt, path_id(request, "job_id", "job")))

    async def erase_one(request: Request) -> Response:
        job_id = path_id(request, "job_id", "job")
        deleted = await erase_jobs(store, rt.config.archive_dir, [job_id])
        if not deleted["jobs"]:
            raise NotFound(f"no job {job_id!r}")
        return JSONResponse({"deleted": deleted})

    async def erase_many(request: Request) -> Response:
        key = query_text(request, "correlation_key")
        prefix = query_text(request, "correlation_key_prefix")
        if (key is None) == (prefix is None):
            raise InputError(
                "give correlation_key=K or correlation_key_prefix=P (one of them, not empty): "
                "the jobs to erase must be named",
                code="invalid_query",
            )
        return JSONResponse({"deleted": await erase_matching(store, rt.config.archive_dir, key=key, prefix=prefix)})

    return [
        Route("/v1/jobs", scoped(rt, "jobs:write", register), methods=["POST"]),
        Route("/v1/jobs", scoped(rt, "jobs:read", list_jobs), methods=["GET"]),
        Route("/v1/jobs", scoped(rt, "jobs:write", erase_many), methods=["DELETE"]),
        Route("/v1/jobs/{job_id}", scoped(rt, "jobs:read", show), methods=["GET"]),
        Route("/v1/jobs/{job_id}", scoped(rt, "jobs:write", erase_one), methods=["DELETE"]),
    ]


async def job_detail(rt: Runtime, job_id: str) -> dict[str, Any]:
    """A job with its timeline: callbacks (newest first), events and deliveries; for a job hookline
    submitted, its ``submission``; for a succeeded one, its ``archive`` (null otherwise)."""
    job = await rt.store.get_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    body = job.to_api()
    body["callbacks"] = [c.to_api() for c in await rt.store.job_callbacks(job_id)]
    body["events"] = [e.to_api() for e in await rt.store.job_events(job_id)]
    deliveries = await rt.store.list_deliveries(DeliveryQuery(job_id=job_id, limit=500))
    body["deliveries"] = [d.to_api() for d in deliveries.items]
    submission = await rt.store.get_submission(job_id)
    body["submission"] = submission.to_api() if submission is not None else None
    archived = await rt.store.get_archive(job_id)
    body["archive"] = archived.to_api() if archived is not None else None
    return body
