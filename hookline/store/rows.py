"""Row → model mappers shared by both backends: each SELECT lists its columns in the order below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hookline.events import assemble, build_event
from hookline.models import Attempt, CallbackRecord, Delivery, Event, Job, Page, SigningSecret, Subscription
from hookline.store.base import feed_cursor

JOB_COLUMNS = (
    "id, provider, upstream_id, correlation_key, status, progress, image_urls, error, action, metadata, "
    "upstream_callback_id, sequence, origin, created_at, updated_at, last_seen_at"
)
CALLBACK_COLUMNS = "id, job_id, provider, source, outcome, received_at, headers, body, error"
EVENT_COLUMNS = "id, job_id, type, sequence, created_at, head, callback_id"
SUBSCRIPTION_COLUMNS = (
    "id, url, event_types, filter, description, secrets, enabled, disabled_reason, job_id, created_at, "
    "updated_at, failing_since, last_success_at, throttled_until"
)
DELIVERY_COLUMNS = (
    "id, event_id, subscription_id, job_id, event_type, sequence, status, attempts, next_attempt_at, "
    "last_status_code, last_error, created_at, updated_at, delivered_at"
)
ATTEMPT_COLUMNS = "id, delivery_id, attempted_at, status_code, latency_ms, error, response_body"


def prefixed(columns: str, alias: str) -> str:
    """``"id, job_id"`` → ``"e.id, e.job_id"``, for SELECTs that join."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


def job(row: Sequence[Any]) -> Job:
    """A job from JOB_COLUMNS, optionally followed by the body of its upstream callback."""
    return Job(
        id=row[0],
        provider=row[1],
        upstream_id=row[2],
        correlation_key=row[3],
        status=row[4],
        progress=row[5],
        image_urls=orjson.loads(row[6]),
        error=row[7],
        action=row[8],
        metadata=orjson.loads(row[9]),
        upstream_callback_id=row[10],
        sequence=row[11],
        origin=row[12],
        created_at=row[13],
        updated_at=row[14],
        last_seen_at=row[15],
        upstream=_loads(row[16]) if len(row) > 16 and row[16] is not None else None,
    )


def archived_job_event(row: Sequence[Any], archived_images: list[dict[str, Any]], now: float) -> tuple[Job, Event]:
    """The job of ``row`` (JOB_COLUMNS and its upstream callback's body) moved one sequence on, and
    its ``job.archived`` event. Like every event, it carries the job's latest upstream snapshot."""
    j = job(row)
    j.sequence += 1
    j.updated_at = now
    event = build_event(
        j,
        "job.archived",
        now,
        upstream=None if row[16] is None else bytes(row[16]),
        callback_id=j.upstream_callback_id,
        extra={"archived_images": archived_images},
    )
    return j, event


def job_values(j: Job) -> tuple[Any, ...]:
    """The values for JOB_COLUMNS, in order."""
    return (
        j.id,
        j.provider,
        j.upstream_id,
        j.correlation_key,
        j.status,
        j.progress,
        dumps(j.image_urls),
        j.error,
        j.action,
        dumps(j.metadata),
        j.upstream_callback_id,
        j.sequence,
        j.origin,
        j.created_at,
        j.updated_at,
        j.last_seen_at,
    )


# A job update writes what ingest can change, in this order, then the id (see JOB_UPDATE_COLUMNS).
JOB_UPDATE_COLUMNS = (
    "upstream_id, correlation_key, status, progress, image_urls, error, action, upstream_callback_id, sequence, "
    "updated_at, last_seen_at"
)


def job_update_values(j: Job) -> tuple[Any, ...]:
    """The values for JOB_UPDATE_COLUMNS, then the job id."""
    return (
        j.upstream_id,
        j.correlation_key,
        j.status,
        j.progress,
        dumps(j.image_urls),
        j.error,
        j.action,
        j.upstream_callback_id,
        j.sequence,
        j.updated_at,
        j.last_seen_at,
        j.id,
    )


def callback(row: Sequence[Any]) -> CallbackRecord:
    return CallbackRecord(
        id=row[0],
        job_id=row[1],
        provider=row[2],
        source=row[3],
        outcome=row[4],
        received_at=row[5],
        headers=orjson.loads(row[6]),
        body=bytes(row[7]),
        error=row[8],
    )


def callback_values(c: CallbackRecord) -> tuple[Any, ...]:
    return (c.id, c.job_id, c.provider, c.source, c.outcome, c.received_at, dumps(c.headers), c.body, c.error)


def event(row: Sequence[Any]) -> Event:
    """An event from EVENT_COLUMNS followed by the body of its callback (which the payload carries)."""
    head = bytes(row[5])
    body = row[7] if len(row) > 7 else None
    return Event(
        id=row[0],
        job_id=row[1],
        type=row[2],
        sequence=row[3],
        created_at=row[4],
        payload=assemble(head, None if body is None else bytes(body)),
        head=head,
        callback_id=row[6],
    )


def feed_page(found: Sequence[Sequence[Any]], after: str | None) -> Page[Event]:
    """A page of the event feed from rows of EVENT_COLUMNS, the callback body and the event's
    position: the cursor is the last event's (``after`` again when the page is empty)."""
    items = [event(r) for r in found]
    cursor = feed_cursor(int(found[-1][8]), found[-1][0]) if found else after
    return Page(items, cursor)


def event_values(e: Event) -> tuple[Any, ...]:
    return (e.id, e.job_id, e.type, e.sequence, e.created_at, e.head, e.callback_id)


def secrets_to_json(secrets: list[SigningSecret]) -> str:
    return dumps([{"secret": s.secret, "created_at": s.created_at, "expires_at": s.expires_at} for s in secrets])


def secrets_from_json(raw: Any) -> list[SigningSecret]:
    return [SigningSecret(s["secret"], s["created_at"], s.get("expires_at")) for s in orjson.loads(raw)]


def subscription(row: Sequence[Any]) -> Subscription:
    return Subscription(
        id=row[0],
        url=row[1],
        event_types=_loads(row[2]),
        filter=orjson.loads(row[3]),
        description=row[4],
        secrets=secrets_from_json(row[5]),
        enabled=bool(row[6]),
        disabled_reason=row[7],
        job_id=row[8],
        created_at=row[9],
        updated_at=row[10],
        failing_since=row[11],
        last_success_at=row[12],
        throttled_until=row[13],
    )


def subscription_values(s: Subscription) -> tuple[Any, ...]:
    return (
        s.id,
        s.url,
        None if s.event_types is None else dumps(s.event_types),
        dumps(s.filter),
        s.description,
        secrets_to_json(s.secrets),
        s.enabled,
        s.disabled_reason,
        s.job_id,
        s.created_at,
        s.updated_at,
        s.failing_since,
        s.last_success_at,
        s.throttled_until,
    )


def delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=row[0],
        event_id=row[1],
        subscription_id=row[2],
        job_id=row[3],
        event_type=row[4],
        sequence=row[5],
        status=row[6],
        attempts=row[7],
        next_attempt_at=row[8],
        last_status_code=row[9],
        last_error=row[10],
        created_at=row[11],
        updated_at=row[12],
        delivered_at=row[13],
    )


def attempt(row: Sequence[Any]) -> Attempt:
    return Attempt(
        id=row[0],
        delivery_id=row[1],
        attempted_at=row[2],
        status_code=row[3],
        latency_ms=row[4],
        error=row[5],
        response_body=row[6],
    )
