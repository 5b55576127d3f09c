"""The OpenAPI document's ``paths``: one entry per served route (see ``hookline.api.openapi``).
Add a route to the API, add its operation here."""

from __future__ import annotations

from hookline.api.events import CURSOR_PATTERN
from hookline.api.jsonschema import Schema, ref
from hookline.api.operations import (
    BAD_REQUEST,
    DELIVERY_ID,
    ERASED,
    LIMIT,
    NOT_FOUND,
    SUB_ID,
    TOO_LARGE,
    cursor_param,
    error_answer,
    json_answer,
    links_to,
    operation,
    path_id,
    query_param,
)
from hookline.models import DELIVERY_STATUSES, EVENT_TYPES, OUTCOMES, PROVIDERS, STATUSES

PATHS: dict[str, dict[str, Schema]] = {
    "/v1/jobs": {
        "post": operation(
            "registerJob",
            "Register a job before its first callback (correlated by correlation_key)",
            {
                "201": json_answer(ref("RegisteredJob"), "the job; `subscription` when callback_url was given"),
                "409": error_answer(
                    "`job_exists`: a job already has this upstream id; `correlation_key_taken`: a job registered "
                    "with this correlation key still waits for its first callback"
                ),
            },
            tag="jobs",
            body=ref("NewJob"),
            links=links_to("job_id", "id", "getJob"),
        ),
        "get": operation(
            "listJobs",
            "List jobs, newest first",
            {"200": json_answer(ref("JobPage"), "a page of jobs"), "400": BAD_REQUEST},
            tag="jobs",
            links=links_to("job_id", "items/0/id", "getJob"),
            params=[
                query_param("status", {"type": "string", "enum": list(STATUSES)}, "only jobs in this status"),
                query_param("provider", {"type": "string", "enum": list(PROVIDERS)}, "only this provider's jobs"),
                query_param("correlation_key", {"type": "string", "maxLength": 1024}, "exact correlation key"),
                LIMIT,
                cursor_param("job"),
            ],
        ),
        "delete": operation(
            "eraseJobs",
            "Erase every job with this correlation key (or key prefix): its callbacks, events, deliveries "
            "(pending ones cancelled), attempts and archived images",
            {"200": ERASED, "400": error_answer("neither correlation_key nor correlation_key_prefix was given")},
            tag="jobs",
            params=[
                query_param("correlation_key", {"type": "string", "maxLength": 1024}, "exact correlation key"),
                query_param("correlation_key_prefix", {"type": "string", "maxLength": 1024}, "correlation key prefix"),
            ],
        ),
    },
    "/v1/jobs/{job_id}": {
        "get": operation(
            "getJob",
            "A job with its timeline: callbacks, events and deliveries",
            {"200": json_answer(ref("JobDetail"), "the job"), "404": NOT_FOUND},
            tag="jobs",
            links=links_to("delivery_id", "deliveries/0/id", "getDelivery", "retryDelivery"),
            params=[path_id("job_id", "job id (job_...)")],
        ),
        "delete": operation(
            "eraseJob",
            "Erase a job: its callbacks, events, deliveries (pending ones cancelled), attempts and archived images",
            {"200": ERASED, "404": NOT_FOUND},
            tag="jobs",
            params=[path_id("job_id", "job id (job_...)")],
        ),
    },
    "/v1/callbacks": {
        "get": operation(
            "listCallbacks",
            "The callback log, newest first (rejected callbacks included)",
            {"200": json_answer(ref("CallbackPage"), "a page of callbacks"), "400": BAD_REQUEST},
            tag="callbacks",
            params=[
                query_param("outcome", {"type": "string", "enum": list(OUTCOMES)}, "only this outcome"),
                query_param("provider", {"type": "string", "enum": list(PROVIDERS)}, "only this provider"),
                LIMIT,
                cursor_param("cb"),
            ],
        ),
    },
    "/v1/subscriptions": {
        "post": operation(
            "createSubscription",
            "Subscribe a URL to events (the answer carries the whsec_ signing secret)",
            {"201": json_answer(ref("SubscriptionWithSecret"), "the subscription with its secret")},
            tag="subscriptions",
            body=ref("NewSubscription"),
            links=links_to(
                "sub_id",
                "id",
                "getSubscription",
                "updateSubscription",
                "deleteSubscription",
                "rotateSecret",
                "replaySubscription",
            ),
        ),
        "get": operation(
            "listSubscriptions",
            "List subscriptions, newest first",
            {"200": json_answer(ref("SubscriptionPage"), "a page of subscriptions"), "400": BAD_REQUEST},
            tag="subscriptions",
            links=links_to(
                "sub_id", "items/0/id", "getSubscription", "updateSubscription", "rotateSecret", "replaySubscription"
            ),
            params=[LIMIT, cursor_param("sub")],
        ),
    },
    "/v1/subscriptions/{sub_id}": {
        "get": operation(
            "getSubscription",
            "A subscription with its health, and its current secret for subscriptions:write",
            {
                "200": json_answer(
                    ref("SubscriptionMaybeSecret"), "the subscription (no secret for subscriptions:read)"
                ),
                "404": NOT_FOUND,
            },
            tag="subscriptions",
            params=[SUB_ID],
        ),
        "patch": operation(
            "updateSubscription",
            "Change a subscription; enabled=false pauses it, enabled=true resumes it",
            {"200": json_answer(ref("Subscription"), "the changed subscription"), "404": NOT_FOUND},
            tag="subscriptions",
            params=[SUB_ID],
            body=ref("SubscriptionChanges"),
        ),
        "delete": operation(
            "deleteSubscription",
            "Delete a subscription with its deliveries",
            {"204": {"description": "deleted"}, "404": NOT_FOUND},
            tag="subscriptions",
            params=[SUB_ID],
        ),
    },
    "/v1/subscriptions/{sub_id}/rotate-secret": {
        "post": operation(
            "rotateSecret",
            "Make a new secret current; the previous one keeps signing for 24 hours",
            {
                "200": json_answer(ref("SubscriptionWithSecret"), "the subscription with its new secret"),
                "404": NOT_FOUND,
            },
            tag="subscriptions",
            params=[SUB_ID],
            body=ref("NewSecret"),
            body_required=False,
        ),
    },
    "/v1/subscriptions/{sub_id}/replay": {
        "post": operation(
            "replaySubscription",
            "Send this subscription every matching event created in [since, until) again",
            {
                "202": json_answer(
                    {"type": "object", "properties": {"replayed": {"type": "integer"}}, "required": ["replayed"]},
                    "how many deliveries were queued",
                ),
                "404": NOT_FOUND,
                "409": error_answer("the subscription is disabled; enable it first"),
            },
            tag="subscriptions",
            params=[SUB_ID],
            body=ref("Replay"),
        ),
    },
    "/v1/deliveries": {
        "get": operation(
            "listDeliveries",
            "List deliveries (one per event and subscription), newest first",
            {"200": json_answer(ref("DeliveryPage"), "a page of deliveries"), "400": BAD_REQUEST},
            tag="deliveries",
            links=links_to("delivery_id", "items/0/id", "getDelivery", "retryDelivery"),
            params=[
                query_param("status", {"type": "string", "enum": list(DELIVERY_STATUSES)}, "only this status"),
                query_param("subscription_id", {"type": "string", "maxLength": 64}, "only this subscription's"),
                query_param("job_id", {"type": "string", "maxLength": 64}, "only this job's"),
                LIMIT,
                cursor_param("dlv"),
            ],
        ),
    },
    "/v1/deliveries/{delivery_id}": {
        "get": operation(
            "getDelivery",
            "A delivery with every attempt (status, latency, error, response body)",
            {"200": json_answer(ref("DeliveryDetail"), "the delivery"), "404": NOT_FOUND},
            tag="deliveries",
            params=[DELIVERY_ID],
        ),
    },
    "/v1/deliveries/retry": {
        "post": operation(
            "retryDeliveries",
            "Send again now every delivery the filter matches (default: every dead one), each job's in order",
            {"202": json_answer(ref("Queued"), "how many deliveries were queued (0 when nothing matched)")},
            tag="deliveries",
            body=ref("BulkRetry"),
            body_required=False,
        ),
    },
    "/v1/deliveries/{delivery_id}/retry": {
        "post": operation(
            "retryDelivery",
            "Make a dead (or waiting) delivery due now",
            {
                "202": json_answer(ref("Delivery"), "the delivery, pending again"),
                "404": NOT_FOUND,
                "409": error_answer("the delivery is being sent right now, or its subscription is disabled"),
            },
            tag="deliveries",
            links=links_to("delivery_id", "id", "getDelivery"),
            params=[DELIVERY_ID],
        ),
    },
    "/v1/events": {
        "get": operation(
            "listEvents",
            "The event feed, OLDEST first: pass next_cursor as ?after= to get only later events (follow the stream)",
            {
                "200": json_answer(ref("EventPage"), "a page of events, each the body as delivered plus its id"),
                "400": BAD_REQUEST,
            },
            tag="events",
            params=[
                query_param("type", {"type": "string", "enum": list(EVENT_TYPES)}, "only events of this type"),
                query_param("job_id", {"type": "string", "maxLength": 64}, "only this job's events"),
                LIMIT,
                query_param(
                    "after",
                    {"type": "string", "pattern": CURSOR_PATTERN},
                    "next_cursor of a previous answer (absent: from the oldest event)",
                ),
            ],
        ),
    },
    "/v1/event-types": {
        "get": operation(
            "listEventTypes",
            "The event catalogue: each type with a JSON Schema (2020-12) its events validate against",
            {"200": json_answer(ref("EventTypeList"), "every event type hookline emits")},
            tag="events",
        ),
    },
    "/v1/blend": {
        "post": operation(
            "submitBlend",
            "Submit a blend to an upstream through hookline (validated first; the submit queue sends it)",
            {
                "202": json_answer(ref("SubmittedJob"), "the job and its submission, queued"),
                "422": error_answer(
                    "an image cannot be fetched or used, or the callback URL is too long for useapi.net"
                ),
            },
            tag="upstream",
            body=ref("Blend"),
        ),
    },
    "/v1/archive/{sha256}": {
        "get": operation(
            "getArchivedImage",
            "An archived result image (no token: the URL is its content's SHA-256, sent in job.archived)",
            {
                "200": {
                    "description": "the image, immutable",
                    "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "304": {"description": "not modified (If-None-Match)"},
                "404": NOT_FOUND,
            },
            tag="upstream",
            params=[path_id("sha256", "the image's SHA-256, 64 lower-case hex digits")],
            admin=False,
        ),
    },
    "/v1/api-keys": {
        "post": operation(
            "createApiKey",
            "Make an API key with scopes (admin): the answer carries the key, shown this once",
            {"201": json_answer(ref("NewApiKeyCreated"), "the key, with the key itself")},
            tag="api-keys",
            body=ref("NewApiKey"),
            links=links_to("key_id", "id", "revokeApiKey"),
        ),
        "get": operation(
            "listApiKeys",
            "Every API key not revoked, newest first (never the keys themselves)",
            {"200": json_answer(ref("ApiKeyList"), "the keys")},
            tag="api-keys",
        ),
    },
    "/v1/api-keys/{key_id}": {
        "delete": operation(
            "revokeApiKey",
            "Revoke an API key: refused from now on, by every process",
            {"204": {"description": "revoked"}, "404": NOT_FOUND},
            tag="api-keys",
            params=[path_id("key_id", "API key id (key_...)")],
        ),
    },
    "/callbacks/{provider}/{token}": {
        "post": operation(
            "receiveCallback",
            "The callback target for upstream APIs (notifyHook / replyUrl); `hookline info` prints the URLs",
            {
                "200": json_answer(
                    {
                        "type": "object",
                        "properties": {
                            "callback_id": {"type": "string"},
                            "job_id": {"type": "string"},
                            "outcome": {"type": "string", "enum": ["applied", "duplicate", "stale", "conflict"]},
                        },
                        "required": ["callback_id", "job_id", "outcome"],
                    },
                    "stored with its job change and events",
                ),
                "400": json_answer(
                    {
                        "allOf": [ref("Error")],
                        "properties": {"callback_id": {"type": "string"}, "outcome": {"const": "rejected"}},
                    },
                    "not JSON, or no task id: kept in the callback log as rejected",
                ),
                "401": error_answer("wrong callback token"),
                "404": error_answer("unknown provider"),
                "413": TOO_LARGE,
            },
            tag="inbound",
            params=[
                {
                    "name": "provider",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(PROVIDERS)},
                },
                path_id("token", "the callback token"),
            ],
            body={"description": "the upstream's payload, kept as received"},
            admin=False,
        ),
    },
    "/healthz": {
        "get": operation(
            "health",
            "The process is up",
            {"200": json_answer({"type": "object", "properties": {"status": {"const": "ok"}}}, "up")},
            tag="operations",
            admin=False,
        )
    },
    "/readyz": {
        "get": operation(
            "ready",
            "The store answers",
            {
                "200": json_answer({"type": "object", "properties": {"status": {"const": "ready"}}}, "ready"),
                "503": error_answer("the database does not answer"),
            },
            tag="operations",
            admin=False,
        )
    },
    "/metrics": {
        "get": operation(
            "metrics",
            "Prometheus metrics",
            {
                "200": {
                    "description": "text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            tag="operations",
            admin=False,
        )
    },
}
