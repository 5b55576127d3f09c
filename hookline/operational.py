"""Operational events: what hookline tells subscribers about its own subscriptions and deliveries.

``subscription.disabled`` (disabled by a 410 or by failing too long), ``subscription.failing``
(:data:`FAILING_AFTER` failed attempts in a row with no success in between, once per failing
spell), ``subscription.recovered`` (the first success after it), ``delivery.dead`` (a job event's
delivery gave up). Body: ``{"type", "timestamp", "data": {"subscription_id", "url", ...}}``, the
keys of :func:`build` that are set.

They are sent only to subscriptions whose ``event_types`` name them (a subscription without
``event_types`` gets ``job.*`` only), never to the subscription they are about, signed and retried
like every event. They have no job: in storage an operational event's ``job_id`` is its own id, so
each is a chain of its own (per-job ordering does not apply) and ``(job_id, sequence)`` stays
unique; the API shows ``job_id`` null for it.
"""

from __future__ import annotations

from typing import Any

import orjson

from hookline.clock import isoformat
from hookline.ids import new_id
from hookline.models import Event
from hookline.subscription_health import Health

OPERATIONAL_TYPES = ("subscription.disabled", "subscription.failing", "subscription.recovered", "delivery.dead")
FAILING_AFTER = 4  # failed attempts in a row that make a subscription "failing"


def is_job_event(event_type: str) -> bool:
    """Whether events of this type are about a job (and carry ``data.upstream``)."""
    return event_type.startswith("job.")


def build(kind: str, now: float, subscription_id: str, url: str, **fields: Any) -> Event:
    """An operational event of type ``kind`` about subscription ``subscription_id``; ``fields`` (``reason``,
    ``delivery_id``, ``event_id``, ``event_type``, ``job_id``, ``attempts``, ``last_error``) are
    left out when None."""
    assert kind in OPERATIONAL_TYPES
    data = {"subscription_id": subscription_id, "url": url, **{k: v for k, v in fields.items() if v is not None}}
    head = orjson.dumps({"type": kind, "timestamp": isoformat(now), "data": data})
    event_id = new_id("msg")
    return Event(
        id=event_id,
        job_id=event_id,
        type=kind,
        sequence=1,
        created_at=now,
        payload=head,
        head=head,
        callback_id=None,
    )


def health_events(
    sub_id: str, url: str, before: int, h: Health, disabled: str | None, *, owed: bool = False
) -> tuple[list[Event], int]:
    """What ``h`` (one batch's attempts) tells about subscription ``sub_id``, whose count of
    failures in a row was ``before`` (``owed``: it recovered, but the recovery was not told yet);
    and the count after the batch."""
    told: list[Event] = []
    if owed and before >= FAILING_AFTER:
        told.append(build("subscription.recovered", h.now, sub_id, url))
        before = 0
    if h.success_at is not None:
        if before >= FAILING_AFTER:
            told.append(build("subscription.recovered", h.now, sub_id, url))
        before, after = 0, h.trailing_failures
    else:
        after = before + h.failures
    if before < FAILING_AFTER <= after:
        told.append(build("subscription.failing", h.now, sub_id, url, attempts=after, last_error=h.last_error))
    if disabled is not None:
        told.append(build("subscription.disabled", h.now, sub_id, url, reason=disabled))
    return told, after
