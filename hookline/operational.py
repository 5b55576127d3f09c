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
