"""Rows ↔ models, by column name. JSON columns travel as text both ways (both databases keep the
exact text hookline wrote).

Rows read are mapped field by field by name. Rows written in bulk are value tuples described by a
tuple of column names (``JOB`` and ``job_values``, side by side): ``Tx.many`` matches those names
to the statement's parameters, so no code counts positions. (Dicts per row cost the ingest path
about 20 k instructions per callback; tuples cost next to nothing.)"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

import orjson

from hookline.apikeys import ApiKey
from hookline.events import assemble
from hookline.models import Attempt, CallbackRecord, Claim, Delivery, Event, Job, Page, SigningSecret, Subscription
from hookline.queries import feed_cursor
from hookline.store.driver import Params, Row

M = TypeVar("M")


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


def getter(found: list[Row], *columns: str) -> Callable[[Row], Any]:
    """Reads ``columns`` of each row of ``found`` (a tuple; the value itself for one column) by
    position, found once by name: for hot loops (``sqlite3.Row`` compares names one by one on
    every lookup by name)."""
    keys = list(found[0].keys()) if found else list(columns)
    return itemgetter(*(keys.index(column) for column in columns))


def _has(row: Row, column: str) -> bool:
    return column in row.keys()


def model(cls: type[M], row: Row, **decoded: Any) -> M:
    """An instance of the dataclass ``cls``: each field from the column of the same name, but the
    ``decoded`` ones."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{name: row[name] for name in names if name not in decoded}, **decoded)


def params(obj: Any, *names: str) -> Params:
    """The attributes ``names`` of ``obj``, by name: the parameters of the columns named alike."""
    return {name: getattr(obj, name) for name in names}


def job(row: Row) -> Job:
    """A job; with its upstream snapshot when the row has the ``upstream`` column (the body of the
    callback applied last)."""
    upstream = _loads(row["upstream"]) if _has(row, "upstream") else None
    return model(
        Job, row, image_urls=orjson.loads(row["image_urls"]), metadata=orjson.loads(row["metadata"]), upstream=upstream
    )


JOB = (
    "id", "provider", "upstream_id", "correlation_key", "status", "progress", "image_urls", "error", "action",
    "metadata", "upstream_callback_id", "sequence", "origin", "created_at", "updated_at", "last_seen_at",
)  # fmt: skip


def job_values(j: Job) -> tuple[Any, ...]:
    """The values of the columns ``JOB`` names."""
    return (
        j.id, j.provider, j.upstream_id, j.correlation_key, j.status, j.progress, dumps(j.image_urls), j.error,
        j.action, dumps(j.metadata), j.upstream_callback_id, j.sequence, j.origin, j.created_at, j.updated_at,
        j.last_seen_at,
    )  # fmt: skip


def callback(row: Row) -> CallbackRecord:
    return model(CallbackRecord, row, headers=orjson.loads(row["headers"]), body=bytes(row["body"]))


CALLBACK = ("id", "job_id", "provider", "source", "outcome", "received_at", "headers", "body", "error")


def callback_values(c: CallbackRecord) -> tuple[Any, ...]:
    return (c.id, c.job_id, c.provider, c.source, c.outcome, c.received_at, dumps(c.headers), c.body, c.error)


def event(row: Row) -> Event:
    """An event; its payload carries ``body``, the body of its callback."""
    head, body = bytes(row["head"]), row["body"]
    return model(Event, row, head=head, payload=assemble(head, None if body is None else bytes(body)))


EVENT = ("id", "job_id", "type", "sequence", "created_at", "head", "callback_id")


event_values = attrgetter(*EVENT)  # the values of the columns ``EVENT`` names


def feed_page(found: list[Row], after: str | None) -> Page[Event]:
    """A page of the event feed (``feed_events`` rows): its cursor is the last event's, or
    ``after`` again when the page is empty."""
    cursor = feed_cursor(int(found[-1]["position"]), found[-1]["id"]) if found else after
    return Page([event(r) for r in found], cursor)


def secrets_from_json(raw: Any) -> list[SigningSecret]:
    return [SigningSecret(s["secret"], s["created_at"], s.get("expires_at")) for s in orjson.loads(raw)]


CLAIM = ("id", "event_id", "subscription_id", "job_id", "url", "secrets", "head", "body", "attempts")


def claim(values: tuple[Any, ...], secrets: dict[str, list[str]], now: float) -> Claim:
    """A claim from the ``CLAIM`` columns of a claimed delivery's row; ``secrets`` caches each
    subscription's signing secrets active at ``now``."""
    delivery_id, event_id, sub_id, job_id, url, raw, head, body, attempts = values
    if sub_id not in secrets:
        secrets[sub_id] = [s.secret for s in secrets_from_json(raw) if s.active(now)]
    return Claim(delivery_id, event_id, sub_id, job_id, url, assemble(head, body), secrets[sub_id], attempts)


def subscription(row: Row) -> Subscription:
    return model(
        Subscription,
        row,
        event_types=_loads(row["event_types"]),
        filter=orjson.loads(row["filter"]),
        secrets=secrets_from_json(row["secrets"]),
        enabled=bool(row["enabled"]),
        headers=orjson.loads(row["headers"]),
        retry_schedule=_loads(row["retry_schedule"]),
        paused=bool(row["paused"]),
    )


def subscription_params(s: Subscription) -> Params:
    secrets = [{"secret": x.secret, "created_at": x.created_at, "expires_at": x.expires_at} for x in s.secrets]
    plain = ("id", "url", "description", "enabled", "disabled_reason", "job_id", "created_at", "updated_at")
    return params(s, *plain, "failing_since", "last_success_at", "throttled_until", "rate_limit", "paused") | {
        "event_types": None if s.event_types is None else dumps(s.event_types),
        "filter": dumps(s.filter),
        "secrets": dumps(secrets),
        "headers": dumps(s.headers),
        "retry_schedule": None if s.retry_schedule is None else dumps(s.retry_schedule),
    }


def delivery(row: Row) -> Delivery:
    return model(Delivery, row)


DELIVERY = ("id", "event_id", "subscription_id", "job_id", "event_type", "sequence", "next_attempt_at", "created_at")


delivery_values = attrgetter(*DELIVERY)  # of a NewDelivery


def attempt(row: Row) -> Attempt:
    return model(Attempt, row)


def api_key(row: Row) -> ApiKey:
    return model(ApiKey, row, scopes=tuple(orjson.loads(row["scopes"])))
