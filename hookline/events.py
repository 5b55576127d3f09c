"""The outbound event body (Standard Webhooks style), built once when the event is created.

``{"type", "timestamp", "data": {job_id, provider, upstream_id, correlation_key, action, status,
progress, sequence, image_urls, error, metadata, upstream}}``: every subscriber and every retry
gets these exact bytes; only the ``webhook-timestamp`` header and the signatures change per attempt.
"""

from __future__ import annotations

from typing import Any

import orjson

from hookline.clock import isoformat
from hookline.ids import new_id
from hookline.models import Event, Job


def event_data(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "provider": job.provider,
        "upstream_id": job.upstream_id,
        "correlation_key": job.correlation_key,
        "action": job.action,
        "status": job.status,
        "progress": job.progress,
        "sequence": job.sequence,
        "image_urls": list(job.image_urls),
        "error": job.error,
        "metadata": job.metadata,
        "upstream": job.upstream,
    }


def build_event(job: Job, event_type: str, now: float, extra: dict[str, Any] | None = None) -> Event:
    """The event for ``job`` as it is now; ``job.sequence`` must already count this event."""
    data = event_data(job)
    if extra:
        data.update(extra)
    body = {"type": event_type, "timestamp": isoformat(now), "data": data}
    return Event(
        id=new_id("msg"),
        job_id=job.id,
        type=event_type,
        sequence=job.sequence,
        created_at=now,
        payload=orjson.dumps(body),
    )
