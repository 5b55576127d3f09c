"""JSON Schemas (OpenAPI 3.1) of what the management API sends and accepts.

Response schemas mirror the models' ``to_api`` exactly: every key is required, and a key that can
be ``null`` says so. Request schemas mirror ``hookline.api.fields``: unknown fields are refused
(``additionalProperties: false``) and a field that the handler treats as absent when ``null``
accepts ``null``. ``tests/hookline/test_openapi.py`` runs schemathesis against a live server to
keep the two in step.
"""

from __future__ import annotations

from hookline.api.auth import SCOPES
from hookline.api.fields import MAX_METADATA_BYTES
from hookline.api.jsonschema import NON_BLANK, TIME, Schema, nullable, obj, page_of, ref
from hookline.models import DELIVERY_STATUSES, EVENT_TYPES, OUTCOMES, PROVIDERS, STATUSES

STRING: Schema = {"type": "string"}
METADATA: Schema = {
    "type": "object",
    "description": f"any JSON object, at most {MAX_METADATA_BYTES} bytes",
    "additionalProperties": True,
}
FILTER: Schema = obj(
    {
        "provider": nullable({"type": "string", "enum": list(PROVIDERS)}),
        "correlation_key": nullable({"type": "string", "maxLength": 1024}),
        "correlation_key_prefix": nullable({"type": "string", "maxLength": 1024}),
        "metadata": nullable(METADATA),
        "status": nullable(
            {
                "type": "array",
                "items": {"type": "string", "enum": list(STATUSES)},
                "minItems": 1,
                "description": "only events that report one of these job statuses",
            }
        ),
        "min_progress": nullable(
            {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "only events whose job progress is at least this (unknown: 0); "
                "events of finished jobs always pass",
            }
        ),
    },
    required=[],
    closed=True,
)
# Per-subscription settings (issue 15): see hookline/api/subsettings.py.
HEADERS: Schema = {
    "type": "object",
    "maxProperties": 32,
    "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$"},
    "additionalProperties": {"type": "string", "maxLength": 4096, "pattern": "^[\\t\\x20-\\x7e]*$"},
    "description": "sent with every delivery; not webhook-*, content-type, content-length, host, user-agent, "
    "transfer-encoding, connection (nor other hop-by-hop names)",
}
RATE_LIMIT: Schema = {
    "type": "integer",
    "minimum": 1,
    "maximum": 10000,
    "description": "at most this many requests to this subscription in any one second; null: no limit",
}
RETRY_SCHEDULE: Schema = {
    "type": "array",
    "items": {"type": "number", "minimum": 0, "maximum": 2592000},
    "maxItems": 30,
    "description": "seconds before each retry; null: the global HOOKLINE_RETRY_SCHEDULE",
}
SETTINGS: dict[str, Schema] = {
    "headers": nullable(HEADERS),
    "rate_limit": nullable(RATE_LIMIT),
    "retry_schedule": nullable(RETRY_SCHEDULE),
}
EVENT_TYPE_LIST: Schema = {
    "type": "array",
    "items": {"type": "string", "enum": list(EVENT_TYPES)},
    "maxItems": 100,
    "description": "the event types to receive; null or absent: every type",
}
URL: Schema = {
    "type": "string",
    "format": "uri",
    "pattern": "^https?://",
    "maxLength": 2048,
    "description": "http:// or https:// URL; private addresses are refused unless HOOKLINE_ALLOW_PRIVATE_TARGETS",
}
SECRET: Schema = {
    "type": "string",
    "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$",
    "maxLength": 200,
    "description": "whsec_ followed by base64 of 16 to 64 bytes; generated when absent",
}

COMPONENTS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {"type": "string", "description": "machine-readable, e.g. invalid_field, not_found"},
                    "message": {"type": "string", "description": "what is wrong and what to do about it"},
                }
            )
        }
    ),
    "Job": obj(
        {
            "id": STRING,
            "provider": {"type": "string", "enum": list(PROVIDERS)},
            "upstream_id": nullable(STRING),
            "correlation_key": nullable(STRING),
            "status": {"type": "string", "enum": list(STATUSES)},
            "progress": nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "image_urls": {"type": "array", "items": STRING},
            "error": nullable(STRING),
            "action": nullable(STRING),
            "metadata": METADATA,
            "sequence": {"type": "integer", "minimum": 0, "description": "events emitted so far"},
            "origin": {"type": "string", "enum": ["registered", "callback", "submitted"]},
            "created_at": TIME,
            "updated_at": TIME,
            "last_seen_at": nullable(TIME),
            "upstream": {"description": "the latest applied raw upstream snapshot (any JSON), null before one"},
        }
    ),
    "Callback": obj(
        {
            "id": STRING,
            "job_id": nullable(STRING),
            "provider": {"type": "string", "enum": list(PROVIDERS)},
            "source": {
                "type": "string",
                "enum": ["callback", "poll", "submit", "timeout"],
                "description": "callback: sent by the upstream; poll: fetched by the reconciler; submit: the "
                "upstream's answer to a blend hookline sent; timeout: hookline gave up waiting",
            },
            "outcome": {"type": "string", "enum": list(OUTCOMES)},
            "received_at": TIME,
            "headers": {"type": "object", "additionalProperties": STRING},
            "body": {"type": "string", "description": "the raw body as received (UTF-8, invalid bytes replaced)"},
            "error": nullable(STRING),
        }
    ),
    "Event": obj(
        {
            "id": STRING,
            "job_id": nullable({"type": "string", "description": "null for an operational event"}),
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "sequence": {"type": "integer", "minimum": 1},
            "created_at": TIME,
            "payload": {"type": "object", "description": "the exact body every subscriber receives"},
        }
    ),
    "Subscription": obj(
        {
            "id": STRING,
            "url": STRING,
            "event_types": nullable({"type": "array", "items": STRING}),
            "filter": {"type": "object"},
            "description": nullable(STRING),
            "enabled": {"type": "boolean"},
            "paused": {"type": "boolean", "description": "deliveries are queued but held until resumed"},
            "disabled_reason": nullable(STRING),
            "job_id": nullable({"type": "string", "description": "set on the one-off subscription of a job"}),
            "created_at": TIME,
            "updated_at": TIME,
            "failing_since": nullable(TIME),
            "last_success_at": nullable(TIME),
            "rate_limit": nullable(RATE_LIMIT),
            "retry_schedule": nullable(RETRY_SCHEDULE),
        }
    ),
    "Delivery": obj(
        {
            "id": STRING,
            "event_id": STRING,
            "subscription_id": STRING,
            "job_id": nullable({"type": "string", "description": "null for an operational event"}),
            "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
            "sequence": {"type": "integer"},
            "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
            "attempts": {"type": "integer", "minimum": 0},
            "next_attempt_at": nullable(TIME),
            "last_status_code": nullable({"type": "integer"}),
            "last_error": nullable(STRING),
            "created_at": TIME,
            "updated_at": TIME,
            "delivered_at": nullable(TIME),
        }
    ),
    "Attempt": obj(
        {
            "id": STRING,
            "delivery_id": STRING,
            "attempted_at": TIME,
            "status_code": nullable({"type": "integer"}),
            "latency_ms": {"type": "number", "minimum": 0},
            "error": nullable(STRING),
            "response_body": nullable({"type": "string", "description": "the first 4 KiB of the answer"}),
        }
    ),
    "NewJob": obj(
        {
            "provider": {"type": "string", "enum": list(PROVIDERS)},
            "correlation_key": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": NON_BLANK},
            "upstream_id": nullable({"type": "string", "maxLength": 256}),
            "metadata": nullable(METADATA),
            "callback_url": nullable({**URL, "description": "gets this job's events only (a one-off subscription)"}),
        },
        required=["provider", "correlation_key"],
        closed=True,
    ),
    "NewSubscription": obj(
        {
            "url": URL,
            "event_types": nullable(EVENT_TYPE_LIST),
            "filter": nullable(FILTER),
            "description": nullable({"type": "string", "maxLength": 1024}),
            "secret": nullable(SECRET),
            **SETTINGS,
        },
        required=["url"],
        closed=True,
    ),
    "SubscriptionChanges": obj(
        {
            "url": URL,
            "event_types": nullable(EVENT_TYPE_LIST),
            "filter": nullable(FILTER),
            "description": nullable({"type": "string", "maxLength": 1024}),
            "enabled": {"type": "boolean", "description": "false pauses deliveries; true resumes them"},
            **SETTINGS,
            "paused": {
                "type": "boolean",
                "description": "true holds deliveries (still queued for every matching event); false sends "
                "them, per job in sequence order",
            },
        },
        required=[],
        closed=True,
    ),
    "Replay": obj(
        {"since": TIME, "until": nullable(TIME)},
        required=["since"],
        closed=True,
    ),
    "NewSecret": obj({"secret": nullable(SECRET)}, required=[], closed=True),
    "BulkRetry": obj(
        {
            "status": nullable({"type": "string", "enum": ["dead", "pending"], "description": "default dead"}),
            "subscription_id": nullable({"type": "string", "maxLength": 64}),
            "event_type": nullable({"type": "string", "enum": list(EVENT_TYPES)}),
            "since": nullable({**TIME, "description": "only deliveries created at or after this time"}),
            "until": nullable({**TIME, "description": "only deliveries created before this time"}),
        },
        required=[],
        closed=True,
    ),
    "Queued": obj({"queued": {"type": "integer", "minimum": 0}}),
}

# Derived shapes: a subscription as created or shown (with its secret), a job with its timeline,
# a delivery with its attempts.
COMPONENTS["SubscriptionWithSecret"] = {
    "allOf": [ref("Subscription"), obj({"secret": {"type": "string", "pattern": "^whsec_"}, "headers": HEADERS})]
}
COMPONENTS["SubscriptionMaybeSecret"] = {
    "allOf": [ref("Subscription"), obj({"secret": {"type": "string", "pattern": "^whsec_"}}, required=[])]
}
COMPONENTS["RegisteredJob"] = {
    "allOf": [
        ref("Job"),
        obj(
            {"subscription": obj({"id": STRING, "secret": STRING})},
            required=[],
        ),
    ]
}
COMPONENTS["Submission"] = obj(
    {
        "provider": {"type": "string", "enum": list(PROVIDERS)},
        "channel": nullable({"type": "string", "description": "useapi channel whose maxJobs bounds it"}),
        "state": {"type": "string", "enum": ["pending", "sent", "refused"]},
        "attempts": {"type": "integer", "minimum": 0},
        "next_attempt_at": nullable(TIME),
        "last_error": nullable(STRING),
        "created_at": TIME,
        "updated_at": TIME,
        "sent_at": nullable(TIME),
    }
)
COMPONENTS["ArchivedImage"] = obj(
    {
        "source_url": {"type": "string", "description": "where the upstream served it"},
        "url": {"type": "string", "description": "GET /v1/archive/{sha256} on this hookline"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "content_type": {"type": "string"},
        "bytes": {"type": "integer", "minimum": 0},
    }
)
COMPONENTS["Archive"] = obj(
    {
        "state": {"type": "string", "enum": ["pending", "archived", "failed"]},
        "attempts": {"type": "integer", "minimum": 0},
        "next_attempt_at": nullable(TIME),
        "last_error": nullable(STRING),
        "images": {"type": "array", "items": ref("ArchivedImage")},
        "created_at": TIME,
        "updated_at": TIME,
    }
)
COMPONENTS["JobDetail"] = {
    "allOf": [
        ref("Job"),
        obj(
            {
                "callbacks": {"type": "array", "items": ref("Callback"), "description": "newest first"},
                "events": {"type": "array", "items": ref("Event"), "description": "highest sequence first"},
                "deliveries": {"type": "array", "items": ref("Delivery"), "description": "newest first"},
                "submission": nullable(ref("Submission")),
                "archive": nullable(ref("Archive")),
            }
        ),
    ]
}
COMPONENTS["Blend"] = obj(
    {
        "provider": {"type": "string", "enum": list(PROVIDERS)},
        "images": {
            "type": "array",
            "minItems": 2,
            "maxItems": 5,
            "items": {"type": "string", "description": "an http(s) URL, or a data URI (midjourney-proxy only)"},
        },
        "dimensions": nullable({"type": "string", "enum": ["portrait", "square", "landscape"]}),
        "bot_type": nullable(
            {"type": "string", "enum": ["mid_journey", "niji_journey"], "description": "midjourney-proxy only"}
        ),
        "correlation_key": nullable({"type": "string", "maxLength": 1024}),
        "metadata": nullable(METADATA),
        "callback_url": nullable({"type": "string", "description": "this job's events only, signed"}),
    },
    required=["provider", "images"],
    closed=True,
)
COMPONENTS["SubmittedJob"] = {
    "allOf": [
        ref("Job"),
        obj(
            {"submission": ref("Submission"), "subscription": obj({"id": STRING, "secret": STRING})},
            required=["submission"],
        ),
    ]
}
COMPONENTS["DeliveryDetail"] = {
    "allOf": [ref("Delivery"), obj({"attempt_log": {"type": "array", "items": ref("Attempt")}})]
}
for _name in ("Job", "Callback", "Subscription", "Delivery"):
    COMPONENTS[f"{_name}Page"] = page_of(_name)

# API keys (issue 15).
SCOPE_NAMES = list(SCOPES)
COMPONENTS["ApiKey"] = obj(
    {
        "id": STRING,
        "name": STRING,
        "scopes": {"type": "array", "items": {"type": "string", "enum": SCOPE_NAMES}},
        "prefix": {"type": "string", "description": "the key's first characters, to tell keys apart"},
        "created_at": TIME,
        "expires_at": nullable(TIME),
    }
)
COMPONENTS["NewApiKeyCreated"] = {
    "allOf": [ref("ApiKey"), obj({"key": {"type": "string", "pattern": "^hlk_", "description": "shown only here"}})]
}
COMPONENTS["ApiKeyList"] = obj({"items": {"type": "array", "items": ref("ApiKey")}})
COMPONENTS["NewApiKey"] = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NON_BLANK},
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": SCOPE_NAMES},
            "minItems": 1,
            "maxItems": len(SCOPE_NAMES) * 2,
        },
        "expires_at": nullable({**TIME, "description": "when the key stops working (absent: never); in the future"}),
    },
    required=["name", "scopes"],
    closed=True,
)
