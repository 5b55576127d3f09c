"""``POST /v1/blend``: submit a blend through hookline (202 with the job; the submit queue sends it).

The request is validated as the upstream would validate it, and mjproxy URL images are fetched
and encoded, before anything is stored or sent: a bad request is a 4xx naming the field and leaves
no trace. Then the job (``origin: submitted``; correlation key = the caller's, else the job id) and
its submission are created in one transaction, and the answer shows both.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.auth import scoped
from hookline.api.http import JSONResponse, read_json_object
from hookline.api.subscriptions import build_subscription
from hookline.changes import NewJob
from hookline.egress import EgressGuard
from hookline.ids import new_id
from hookline.runtime import Runtime
from hookline.upstream_work import NewSubmission
from upstream import blend
from upstream.images import ImageFetcher
from upstream.providers import useapi_channel

BODY_SLACK = 64 * 1024


def routes(rt: Runtime) -> list[Route]:
    cfg = rt.config.upstream
    # Five data URIs of the largest image allowed, base64 being 4/3 of the bytes.
    max_body = max(rt.config.max_body_bytes, blend.MAX_IMAGES * cfg.blend_image_max_bytes * 4 // 3 + BODY_SLACK)

    async def submit(request: Request) -> Response:
        doc = await read_json_object(request, max_body)
        callback_urls = {provider: rt.callback_url(provider) for provider in cfg.providers}
        parsed = blend.parse(doc, rt.config, callback_urls)
        now = rt.clock.now()
        subscription = None
        if parsed.callback_url is not None:
            subscription = await build_subscription(rt, {"url": parsed.callback_url}, now, field_name="callback_url")
        if parsed.provider == "mjproxy":  # the only one whose images hookline must fetch and encode
            guard = EgressGuard.from_config(rt.config)
            async with ImageFetcher(guard, timeout=cfg.timeout) as fetcher:
                prepared = await blend.prepare(parsed, fetcher, cfg.blend_image_max_bytes)
        else:
            prepared = await blend.prepare(parsed, None, cfg.blend_image_max_bytes)
        job_id = new_id("job")
        job = await rt.store.register_submission(
            NewJob(
                provider=parsed.provider,
                correlation_key=parsed.correlation_key or job_id,
                metadata=parsed.metadata,
                subscription=subscription,
                origin="submitted",
            ),
            NewSubmission(
                job_id=job_id,
                provider=parsed.provider,
                request=prepared,
                channel=useapi_channel(cfg) if parsed.provider == "useapi" else None,
            ),
            now,
        )
        body = job.to_api()
        submission = await rt.store.get_submission(job.id)
        body["submission"] = submission.to_api() if submission is not None else None
        if subscription is not None:
            body["subscription"] = {"id": subscription.id, "secret": subscription.secret}
        return JSONResponse(body, status_code=202)

    return [Route("/v1/blend", scoped(rt, "jobs:write", submit), methods=["POST"])]
