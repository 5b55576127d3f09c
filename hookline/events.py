"""The outbound event body (Standard Webhooks style).

``{"type", "timestamp", "data": {job_id, provider, upstream_id, correlation_key, action, status,
progress, sequence, image_urls, error, metadata, upstream}}``: every subscriber and every retry gets
the same bytes; only the ``webhook-timestamp`` header and the signatures change per attempt.

``data.upstream`` is the raw body of the callback that caused the event, byte for byte. The store
keeps the event's *head* (the JSON without ``upstream``) and the callback's id, and splices the
stored callback body back in (:func:`assemble`) — so a callback body is written once, not three
times (callback log, job, event). That halves what each callback writes, which is what bounded
ingest throughput on SQLite.
"""

from __future__ import annotations

from typing import Any

import orjson

from hookline.clock import isoformat
from hookline.ids import new_id
from hookline.models import Event, Job


def event_data(job: Job) -> dict[str, Any]:
    """The event's ``data`` without ``upstream`` (that is spliced in by :func:`assemble`)."""
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
    }


def assemble(head: bytes, upstream: bytes | None) -> bytes:
    """The full event body: ``head`` (which ends with the ``}}`` closing ``data`` and the event)
    with ``,"upstream":<raw JSON>`` inserted as the last key of ``data``. ``upstream`` must be a
    JSON document (callback bodies are stored only once parsed as JSON) or None for ``null``.
    An operational event (not ``job.*``: see ``hookline.operational``) is its head as it is."""
    if not head.startswith(b'{"type":"job.'):
        return head
    raw = upstream.strip() if upstream else b""
    return b"".join((head[:-2], b',"upstream":', raw or b"null", b"}}"))  # one copy of the body, not three


def build_event(
    job: Job,
    event_type: str,
    now: float,
    *,
    upstream: bytes | None,
    callback_id: str | None,
    extra: dict[str, Any] | None = None,
) -> Event:
    """The event for ``job`` as it is now (``job.sequence`` must already count this event).
    ``upstream`` is the raw body of callback ``callback_id``, which the event's payload carries."""
    data = event_data(job)
    if extra:
        data.update(extra)
    head = orjson.dumps({"type": event_type, "timestamp": isoformat(now), "data": data})
    return Event(
        id=new_id("msg"),
        job_id=job.id,
        type=event_type,
        sequence=job.sequence,
        created_at=now,
        payload=assemble(head, upstream),
        head=head,
        callback_id=callback_id,
    )
