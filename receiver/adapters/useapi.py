"""useapi.net: v1/v2 job objects and the v3 ``{request, response}`` shape (PROVIDERS.md §2.3).

The correlation key is ``replyRef`` (v3: ``request.replyRef``, also read from ``response`` and the
top level as the official v3 example does). Progress comes from ``content`` — ``(46%) (fast)`` —
or v3 ``response.progress_percent``. Result images are ``attachments[].url``.
"""

from __future__ import annotations

from typing import Any

from hookline.models import Snapshot
from receiver.adapters.common import (
    AdapterError,
    NoStatus,
    content_percent,
    identifier,
    normalize_progress,
    percent,
    require_object,
    text,
    urls,
)

STATUS = {
    "created": "queued",
    "queued": "queued",
    "started": "submitted",
    "progress": "in_progress",
    "completed": "succeeded",
    "failed": "failed",
    "moderated": "moderated",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}


def _section(job: dict[str, Any], name: str) -> dict[str, Any]:
    value = job.get(name)
    return value if isinstance(value, dict) else {}


def parse(document: Any) -> Snapshot:
    """Read a useapi job object (any version) into a snapshot."""
    job = require_object(document)
    request = _section(job, "request")
    response = _section(job, "response")
    upstream_id = (
        identifier(job.get("jobid"), "jobid", 256)
        or identifier(response.get("jobid"), "jobid", 256)
        or identifier(request.get("jobid"), "jobid", 256)
    )
    if upstream_id is None:
        raise AdapterError("no task id: a useapi callback carries the job in 'jobid'")
    raw_status = text(job.get("status")) or text(response.get("status"))
    if raw_status is None:
        raise NoStatus("no 'status' in the callback")
    status = STATUS.get(raw_status.lower())
    if status is None:
        raise AdapterError(f"unknown status {raw_status!r}; expected one of " + ", ".join(sorted(STATUS)))

    progress = percent(response.get("progress_percent"))
    if progress is None:
        progress = content_percent(text(response.get("content")) or text(job.get("content")))
    attachments = response.get("attachments", job.get("attachments"))
    image_urls = urls(attachments, response.get("imageUx")) if status in ("in_progress", "succeeded") else ()
    error = None
    if status in ("failed", "moderated", "cancelled"):
        error_text = text(job.get("error")) or text(response.get("error"))
        details = text(job.get("errorDetails")) or text(response.get("errorDetails"))
        if error_text and details and details != error_text:
            error = f"{error_text}: {details}"
        else:
            error = error_text or details or f"{status} upstream without a reason"
    verb = text(job.get("verb")) or text(request.get("verb"))
    return Snapshot(
        upstream_id=upstream_id,
        correlation_key=identifier(request.get("replyRef"), "replyRef")
        or identifier(response.get("replyRef"), "replyRef")
        or identifier(job.get("replyRef"), "replyRef"),
        status=status,
        progress=normalize_progress(status, progress),
        image_urls=image_urls,
        error=error,
        action=verb.lower() if verb else None,
        raw=job,
    )
