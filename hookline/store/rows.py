"""Rows ↔ models, by column name. JSON columns travel as text both ways (both databases keep the
exact text hookline wrote); a statement's named parameters are the keys of the dicts built here."""

from __future__ import annotations

from typing import Any

import orjson

from hookline.events import assemble
from hookline.fanout import NewDelivery
from hookline.models import Attempt, CallbackRecord, Delivery, Event, Job, SigningSecret, Subscription
from hookline.store.driver import Params, Row


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


def _has(row: Row, column: str) -> bool:
    return column in row.keys()


def model(cls: Any, row: Row, **decoded: Any) -> Any:
    """An instance of the dataclass ``cls``: each field from the column of the same name, but the
    ``decoded`` ones."""
    return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name not in decoded}, **decoded)


def job(row: Row) -> Job:
    """A job; with its upstream snapshot when the row has the ``upstream`` column (the body of the
    callback applied last)."""
    upstream = _loads(row["upstream"]) if _has(row, "upstream") else None
    j: Job = model(
        Job, row, image_urls=orjson.loads(row["image_urls"]), metadata=orjson.loads(row["metadata"]), upstream=upstream
    )
    return j


def job_params(j: Job) -> Params:
    return {
        "id": j.id,
        "provider": j.provider,
        "upstream_id": j.upstream_id,
        "correlation_key": j.correlation_key,
        "status": j.status,
        "progress": j.progress,
        "image_urls": dumps(j.image_urls),
        "error": j.error,
        "action": j.action,
        "metadata": dumps(j.metadata),
        "upstream_callback_id": j.upstream_callback_id,
        "sequence": j.sequence,
        "origin": j.origin,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "last_seen_at": j.last_seen_at,
    }


def callback(row: Row) -> CallbackRecord:
    c: CallbackRecord = model(CallbackRecord, row, headers=orjson.loads(row["headers"]), body=bytes(row["body"]))
    return c


def callback_params(c: CallbackRecord) -> Params:
    return {
        "id": c.id,
        "job_id": c.job_id,
        "provider": c.provider,
        "source": c.source,
        "outcome": c.outcome,
        "received_at": c.received_at,
        "headers": dumps(c.headers),
        "body": c.body,
        "error": c.error,
    }


def event(row: Row) -> Event:
    """An event; its payload carries ``body``, the body of its callback."""
    head, body = bytes(row["head"]), row["body"]
    e: Event = model(Event, row, head=head, payload=assemble(head, None if body is None else bytes(body)))
    return e


def event_params(e: Event) -> Params:
    return {
        "id": e.id,
        "job_id": e.job_id,
        "type": e.type,
        "sequence": e.sequence,
        "created_at": e.created_at,
        "head": e.head,
        "callback_id": e.callback_id,
    }


def secrets_from_json(raw: Any) -> list[SigningSecret]:
    return [SigningSecret(s["secret"], s["created_at"], s.get("expires_at")) for s in orjson.loads(raw)]


def subscription(row: Row) -> Subscription:
    sub: Subscription = model(
        Subscription,
        row,
        event_types=_loads(row["event_types"]),
        filter=orjson.loads(row["filter"]),
        secrets=secrets_from_json(row["secrets"]),
        enabled=bool(row["enabled"]),
    )
    return sub


def subscription_params(s: Subscription) -> Params:
    secrets = [{"secret": x.secret, "created_at": x.created_at, "expires_at": x.expires_at} for x in s.secrets]
    return {
        "id": s.id,
        "url": s.url,
        "event_types": None if s.event_types is None else dumps(s.event_types),
        "filter": dumps(s.filter),
        "description": s.description,
        "secrets": dumps(secrets),
        "enabled": s.enabled,
        "disabled_reason": s.disabled_reason,
        "job_id": s.job_id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "failing_since": s.failing_since,
        "last_success_at": s.last_success_at,
        "throttled_until": s.throttled_until,
    }


def delivery(row: Row) -> Delivery:
    d: Delivery = model(Delivery, row)
    return d


def delivery_params(d: NewDelivery) -> Params:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "subscription_id": d.subscription_id,
        "job_id": d.job_id,
        "event_type": d.event_type,
        "sequence": d.sequence,
        "next_attempt_at": d.next_attempt_at,
        "created_at": d.created_at,
    }


def attempt(row: Row) -> Attempt:
    a: Attempt = model(Attempt, row)
    return a
