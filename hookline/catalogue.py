"""The event catalogue: every event type hookline emits, what it means, and a JSON Schema (2020-12)
that every event of that type validates against.

``GET /v1/event-types`` serves it and ``/openapi.json`` lists it under ``webhooks``. The schemas
describe the body built by :func:`hookline.events.build_event` (``{"type", "timestamp", "data"}``);
they are open (``additionalProperties`` is not forbidden), so a consumer that validates keeps
working when hookline adds a field. The test suite holds hookline to them strictly: every event a
test subscriber receives is validated with unknown keys refused (``tests/support.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hookline.models import PROVIDERS

Schema = dict[str, Any]

DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    description: str
    statuses: tuple[str, ...]  # the job statuses an event of this type can carry
    progress: Schema  # the schema of data.progress for this type


_PERCENT: Schema = {"type": "integer", "minimum": 0, "maximum": 100}
_MAYBE_PERCENT: Schema = {"type": ["integer", "null"], "minimum": 0, "maximum": 100}

CATALOGUE: tuple[EventType, ...] = (
    EventType(
        "job.submitted",
        "The upstream accepted the job (status submitted) or queued it (status queued).",
        ("queued", "submitted"),
        _MAYBE_PERCENT,
    ),
    EventType(
        "job.progress",
        "The job is running and its progress moved on (status in_progress; progress is the percentage, "
        "0 when the upstream does not say).",
        ("in_progress",),
        _PERCENT,
    ),
    EventType(
        "job.succeeded",
        "The job finished with results: image_urls holds the upstream's result links.",
        ("succeeded",),
        _MAYBE_PERCENT,
    ),
    EventType(
        "job.failed",
        "The job failed; error says why (the upstream's message, or 'timeout' when hookline gave up "
        "waiting: a later real result from the upstream may still follow).",
        ("failed",),
        _MAYBE_PERCENT,
    ),
    EventType(
        "job.moderated",
        "The upstream refused the prompt or the images (moderation); error holds its message.",
        ("moderated",),
        _MAYBE_PERCENT,
    ),
    EventType(
        "job.cancelled",
        "The job was cancelled at the upstream; error holds its message.",
        ("cancelled",),
        _MAYBE_PERCENT,
    ),
    EventType(
        "job.archived",
        "hookline kept copies of a succeeded job's result images: data.archived_images lists them with "
        "their archive URLs (stable, unlike the upstream's links).",
        ("succeeded",),
        _MAYBE_PERCENT,
    ),
)

# Operational events (hookline.operational): about subscriptions and deliveries, with no job.
_NO_JOB: Schema = {}
CATALOGUE += (
    EventType(
        "subscription.disabled",
        "A subscription was disabled (its endpoint answered 410 Gone, or failed without a success for "
        "5 days): it gets nothing more until it is enabled again. Sent to the other subscriptions that "
        "name this type in event_types.",
        (),
        _NO_JOB,
    ),
    EventType(
        "subscription.failing",
        "A subscription's last 4 delivery attempts failed with no success in between (once per failing "
        "spell): attempts is how many failed in a row, last_error the last failure.",
        (),
        _NO_JOB,
    ),
    EventType(
        "subscription.recovered",
        "The first successful delivery to a subscription after it was failing.",
        (),
        _NO_JOB,
    ),
    EventType(
        "delivery.dead",
        "A delivery of a job event gave up after its last retry: the event (event_id, event_type, job_id) "
        "was not delivered to the subscription. POST /v1/deliveries/retry sends it again.",
        (),
        _NO_JOB,
    ),
)

_TEXT: Schema = {"type": "string"}
_MAYBE_TEXT: Schema = {"type": ["string", "null"]}

ARCHIVED_IMAGE: Schema = {
    "type": "object",
    "properties": {
        "source_url": {"type": "string", "description": "the upstream's link the image was fetched from"},
        "url": {"type": "string", "description": "the archived copy: GET it without a token"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "content_type": {"type": "string"},
        "bytes": {"type": "integer", "minimum": 0},
    },
    "required": ["source_url", "url", "sha256", "content_type", "bytes"],
}


def _operational_data(kind: EventType) -> Schema:
    properties: dict[str, Schema] = {
        "subscription_id": {"type": "string", "pattern": "^sub_", "description": "the subscription it is about"},
        "url": {"type": "string", "description": "that subscription's URL"},
    }
    required = list(properties)
    if kind.name == "subscription.disabled":
        properties["reason"] = {"type": "string", "description": "why it was disabled"}
        required.append("reason")
    elif kind.name == "subscription.failing":
        properties["attempts"] = {"type": "integer", "minimum": 4, "description": "failed attempts in a row"}
        properties["last_error"] = {"type": "string", "description": "what the last failed attempt got"}
        required.append("attempts")
    elif kind.name == "delivery.dead":
        properties["delivery_id"] = {"type": "string", "pattern": "^dlv_"}
        properties["event_id"] = {"type": "string", "description": "the event that was not delivered"}
        properties["event_type"] = {"type": "string", "pattern": "^job\\."}
        properties["job_id"] = {"type": "string", "pattern": "^job_"}
        properties["attempts"] = {"type": "integer", "minimum": 1}
        properties["last_error"] = {"type": "string", "description": "what the last attempt got"}
        required += ["delivery_id", "event_id", "event_type", "job_id", "attempts"]
    return {"type": "object", "properties": properties, "required": required}


def _data(kind: EventType) -> Schema:
    if not kind.name.startswith("job."):
        return _operational_data(kind)
    properties: dict[str, Schema] = {
        "job_id": {"type": "string", "pattern": "^job_", "description": "hookline's job id"},
        "provider": {"type": "string", "enum": list(PROVIDERS)},
        "upstream_id": {**_MAYBE_TEXT, "description": "the upstream's task id, once known"},
        "correlation_key": {**_MAYBE_TEXT, "description": "the key the job was registered or submitted with"},
        "action": {**_MAYBE_TEXT, "description": "the upstream action, e.g. blend"},
        "status": {"type": "string", "enum": list(kind.statuses)},
        "progress": {**kind.progress, "description": "percent done; null when the status has none"},
        "sequence": {
            "type": "integer",
            "minimum": 1,
            "description": "the job's event number, from 1 with no gaps: order one job's events by it",
        },
        "image_urls": {"type": "array", "items": _TEXT, "description": "the upstream's result links"},
        "error": {**_MAYBE_TEXT, "description": "why the job did not succeed; null otherwise"},
        "metadata": {"type": "object", "description": "the metadata the job was registered with"},
        "upstream": {"description": "the upstream's raw payload behind this state, as received (any JSON)"},
    }
    if kind.name == "job.archived":
        properties["archived_images"] = {"type": "array", "items": ARCHIVED_IMAGE}
    return {"type": "object", "properties": properties, "required": list(properties)}


def event_schema(kind: EventType) -> Schema:
    """The JSON Schema (2020-12) of one event type's body, self-contained (no ``$ref``)."""
    return {
        "$schema": DIALECT,
        "title": kind.name,
        "description": kind.description,
        "type": "object",
        "properties": {
            "type": {"const": kind.name},
            "timestamp": {"type": "string", "format": "date-time", "description": "when the event was made (UTC)"},
            "data": _data(kind),
        },
        "required": ["type", "timestamp", "data"],
    }


_SCHEMAS: dict[str, Schema] = {kind.name: event_schema(kind) for kind in CATALOGUE}


def schema_of(event_type: str) -> Schema:
    """The schema of ``event_type`` (a fresh copy); KeyError for a type hookline does not emit."""
    return copy.deepcopy(_SCHEMAS[event_type])


def catalogue() -> list[dict[str, Any]]:
    """The body items of ``GET /v1/event-types``: name, description and schema of each type."""
    return [{"name": k.name, "description": k.description, "schema": schema_of(k.name)} for k in CATALOGUE]
