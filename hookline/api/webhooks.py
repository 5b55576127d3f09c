"""The events in ``/openapi.json``: OpenAPI 3.1 ``webhooks`` (one per event type, with the
signature headers) and the schemas of the event feed and the catalogue (``hookline.catalogue``).

The event schemas are the catalogue's, embedded as components, so ``GET /v1/event-types``, the
``webhooks`` section and the feed's ``FeedEvent`` can never disagree.
"""

from __future__ import annotations

from hookline.api.jsonschema import Schema, nullable, obj, ref
from hookline.catalogue import CATALOGUE, schema_of
from hookline.models import EVENT_TYPES

JSON = "application/json"


def _event_component(event_type: str) -> str:
    """``job.succeeded`` → ``JobSucceededEvent``."""
    return "".join(part.capitalize() for part in event_type.split(".")) + "Event"


def _embedded(event_type: str) -> Schema:
    schema = schema_of(event_type)
    del schema["$schema"]  # the document's dialect is 2020-12 already (OpenAPI 3.1)
    return schema


EVENT_COMPONENTS: dict[str, Schema] = {
    **{_event_component(kind.name): _embedded(kind.name) for kind in CATALOGUE},
    "FeedEvent": {
        "allOf": [
            {"oneOf": [ref(_event_component(kind.name)) for kind in CATALOGUE]},
            obj({"id": {"type": "string", "description": "the event id: the webhook-id header of its deliveries"}}),
        ]
    },
    "EventPage": obj(
        {
            "items": {"type": "array", "items": ref("FeedEvent")},
            "next_cursor": nullable(
                {"type": "string", "description": "pass as ?after= for later events (null: the feed is empty)"}
            ),
        }
    ),
    "EventTypeList": obj(
        {
            "items": {
                "type": "array",
                "items": obj(
                    {
                        "name": {"type": "string", "enum": list(EVENT_TYPES)},
                        "description": {"type": "string"},
                        "schema": {"type": "object", "description": "JSON Schema (2020-12) of the event body"},
                    }
                ),
            }
        }
    ),
}

_SIGNED = "Signed as Standard Webhooks: verify webhook-signature with the subscription's whsec_ secret."
_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("webhook-id", "the event id (the same on every retry: deduplicate on it)"),
        ("webhook-timestamp", "seconds since the epoch, of this attempt"),
        ("webhook-signature", "v1,<base64 HMAC-SHA256> for each current secret, space-separated"),
    )
]
WEBHOOKS: dict[str, Schema] = {
    kind.name: {
        "post": {
            "operationId": _event_component(kind.name)[0].lower() + _event_component(kind.name)[1:],
            "summary": kind.description,
            "description": _SIGNED,
            "tags": ["webhooks"],
            "parameters": _HEADERS,
            "requestBody": {"required": True, "content": {JSON: {"schema": ref(_event_component(kind.name))}}},
            "responses": {
                "200": {"description": "any 2xx: delivered (410 disables the subscription; other answers are retried)"}
            },
        }
    }
    for kind in CATALOGUE
}
