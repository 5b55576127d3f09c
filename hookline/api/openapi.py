"""``GET /openapi.json``: the management API, described by hand (OpenAPI 3.1).

Hand-written rather than generated, so the document says what the handlers really do: which
fields are refused, which may be null, which status codes each route answers. Add a route to the
API, add its operation here: ``tests/hookline/test_openapi.py`` fails for a served ``/v1`` route
that is missing, and runs schemathesis against a live server to check the rest.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline import __version__
from hookline.api import idempotency
from hookline.api.events import CURSOR_PATTERN
from hookline.api.http import JSONResponse
from hookline.api.schemas import COMPONENTS, Schema, ref
from hookline.api.webhooks import EVENT_COMPONENTS, WEBHOOKS
from hookline.models import DELIVERY_STATUSES, EVENT_TYPES, OUTCOMES, PROVIDERS, STATUSES
from hookline.runtime import Runtime

JSON = "application/json"


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(ref("Error"), description)


UNAUTHORIZED = _error("no credential, or a wrong token, or an unknown, revoked or expired API key")
FORBIDDEN = _error("the API key lacks the scope this operation needs (the message names it)")
BAD_REQUEST = _error("a field or parameter is invalid; the message names it")
NOT_FOUND = _error("no such id")
TOO_LARGE = _error("the body is larger than HOOKLINE_MAX_BODY_BYTES")


def _path_id(name: str, what: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": what}


def _query(name: str, schema: Schema, description: str) -> Schema:
    # Every query parameter is optional, and an empty value means the same as leaving it out.
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "schema": schema,
        "description": description,
    }


def _cursor(prefix: str) -> Schema:
    return _query(
        "cursor",
        {"type": "string", "pattern": f"^{prefix}_[A-Za-z0-9_]*$", "maxLength": 64},
        "next_cursor of the previous page (absent: the first page)",
    )


LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")


def _op(
    op_id: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    tag: str,
    params: list[Schema] | None = None,
    body: Schema | None = None,
    body_required: bool = True,
    admin: bool = True,
    links: dict[str, Schema] | None = None,
) -> Schema:
    out: Schema = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": dict(responses)}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": body_required, "content": {JSON: {"schema": body}}}
        out["responses"].setdefault("400", BAD_REQUEST)
        out["responses"].setdefault("413", TOO_LARGE)
    if admin:
        out["responses"].setdefault("401", UNAUTHORIZED)
        out["responses"].setdefault("403", FORBIDDEN)
    else:
        out["security"] = []
    if links:
        first = next(iter(out["responses"]))
        out["responses"][first] = {**out["responses"][first], "links": links}
    return out


def _links(param: str, pointer: str, *op_ids: str) -> dict[str, Schema]:
    return {op_id: {"operationId": op_id, "parameters": {param: f"$response.body#/{pointer}"}} for op_id in op_ids}


SUB_ID = _path_id("sub_id", "subscription id (sub_...)")
# Erasure (issue 14): what DELETE /v1/jobs... deleted, by kind.
ERASED = _json(
    {
        "type": "object",
        "properties": {
            "deleted": {
                "type": "object",
                "properties": {
                    kind: {"type": "integer", "minimum": 0}
                    for kind in ("jobs", "callbacks", "events", "deliveries", "attempts", "archived_images")
                },
                "required": ["jobs", "callbacks", "events", "deliveries", "attempts", "archived_images"],
            }
        },
        "required": ["deleted"],
    },
    "what was deleted, by kind (archived_images: files no remaining job refers to)",
)
DELIVERY_ID = _path_id("delivery_id", "delivery id (dlv_...)")

PATHS: dict[str, dict[str, Schema]] = {
    "/v1/jobs": {
        "post": _op(
            "registerJob",
            "Register a job before its first callback (correlated by correlation_key)",
            {
                "201": _json(ref("RegisteredJob"), "the job; `subscription` when callback_url was given"),
                "409": _error(
                    "`job_exists`: a job already has this upstream id; `correlation_key_taken`: a job registered "
                    "with this correlation key still waits for its first callback"
                ),
            },
            tag="jobs",
            body=ref("NewJob"),
            links=_links("job_id", "id", "getJob"),
        ),
        "get": _op(
            "listJobs",
            "List jobs, newest first",
            {"200": _json(ref("JobPage"), "a page of jobs"), "400": BAD_REQUEST},
            tag="jobs",
            links=_links("job_id", "items/0/id", "getJob"),
            params=[
                _query("status", {"type": "string", "enum": list(STATUSES)}, "only jobs in this status"),
                _query("provider", {"type": "string", "enum": list(PROVIDERS)}, "only this provider's jobs"),
                _query("correlation_key", {"type": "string", "maxLength": 1024}, "exact correlation key"),
                LIMIT,
                _cursor("job"),
            ],
        ),
        "delete": _op(
            "eraseJobs",
            "Erase every job with this correlation key (or key prefix): its callbacks, events, deliveries "
            "(pending ones cancelled), attempts and archived images",
            {"200": ERASED, "400": _error("neither correlation_key nor correlation_key_prefix was given")},
            tag="jobs",
            params=[
                _query("correlation_key", {"type": "string", "maxLength": 1024}, "exact correlation key"),
                _query("correlation_key_prefix", {"type": "string", "maxLength": 1024}, "correlation key prefix"),
            ],
        ),
    },
    "/v1/jobs/{job_id}": {
        "get": _op(
            "getJob",
            "A job with its timeline: callbacks, events and deliveries",
            {"200": _json(ref("JobDetail"), "the job"), "404": NOT_FOUND},
            tag="jobs",
            links=_links("delivery_id", "deliveries/0/id", "getDelivery", "retryDelivery"),
            params=[_path_id("job_id", "job id (job_...)")],
        ),
        "delete": _op(
            "eraseJob",
            "Erase a job: its callbacks, events, deliveries (pending ones cancelled), attempts and archived images",
            {"200": ERASED, "404": NOT_FOUND},
            tag="jobs",
            params=[_path_id("job_id", "job id (job_...)")],
        ),
    },
    "/v1/callbacks": {
        "get": _op(
            "listCallbacks",
            "The callback log, newest first (rejected callbacks included)",
            {"200": _json(ref("CallbackPage"), "a page of callbacks"), "400": BAD_REQUEST},
            tag="callbacks",
            params=[
                _query("outcome", {"type": "string", "enum": list(OUTCOMES)}, "only this outcome"),
                _query("provider", {"type": "string", "enum": list(PROVIDERS)}, "only this provider"),
                LIMIT,
                _cursor("cb"),
            ],
        ),
    },
    "/v1/subscriptions": {
        "post": _op(
            "createSubscription",
            "Subscribe a URL to events (the answer carries the whsec_ signing secret)",
            {"201": _json(ref("SubscriptionWithSecret"), "the subscription with its secret")},
            tag="subscriptions",
            body=ref("NewSubscription"),
            links=_links(
                "sub_id",
                "id",
                "getSubscription",
                "updateSubscription",
                "deleteSubscription",
                "rotateSecret",
                "replaySubscription",
            ),
        ),
        "get": _op(
            "listSubscriptions",
            "List subscriptions, newest first",
            {"200": _json(ref("SubscriptionPage"), "a page of subscriptions"), "400": BAD_REQUEST},
            tag="subscriptions",
            links=_links(
                "sub_id", "items/0/id", "getSubscription", "updateSubscription", "rotateSecret", "replaySubscription"
            ),
            params=[LIMIT, _cursor("sub")],
        ),
    },
    "/v1/subscriptions/{sub_id}": {
        "get": _op(
            "getSubscription",
            "A subscription with its health, and its current secret for subscriptions:write",
            {
                "200": _json(ref("SubscriptionMaybeSecret"), "the subscription (no secret for subscriptions:read)"),
                "404": NOT_FOUND,
            },
            tag="subscriptions",
            params=[SUB_ID],
        ),
        "patch": _op(
            "updateSubscription",
            "Change a subscription; enabled=false pauses it, enabled=true resumes it",
            {"200": _json(ref("Subscription"), "the changed subscription"), "404": NOT_FOUND},
            tag="subscriptions",
            params=[SUB_ID],
            body=ref("SubscriptionChanges"),
        ),
        "delete": _op(
            "deleteSubscription",
            "Delete a subscription with its deliveries",
            {"204": {"description": "deleted"}, "404": NOT_FOUND},
            tag="subscriptions",
            params=[SUB_ID],
        ),
    },
    "/v1/subscriptions/{sub_id}/rotate-secret": {
        "post": _op(
            "rotateSecret",
            "Make a new secret current; the previous one keeps signing for 24 hours",
            {"200": _json(ref("SubscriptionWithSecret"), "the subscription with its new secret"), "404": NOT_FOUND},
            tag="subscriptions",
            params=[SUB_ID],
            body=ref("NewSecret"),
            body_required=False,
        ),
    },
    "/v1/subscriptions/{sub_id}/replay": {
        "post": _op(
            "replaySubscription",
            "Send this subscription every matching event created in [since, until) again",
            {
                "202": _json(
                    {"type": "object", "properties": {"replayed": {"type": "integer"}}, "required": ["replayed"]},
                    "how many deliveries were queued",
                ),
                "404": NOT_FOUND,
                "409": _error("the subscription is disabled; enable it first"),
            },
            tag="subscriptions",
            params=[SUB_ID],
            body=ref("Replay"),
        ),
    },
    "/v1/deliveries": {
        "get": _op(
            "listDeliveries",
            "List deliveries (one per event and subscription), newest first",
            {"200": _json(ref("DeliveryPage"), "a page of deliveries"), "400": BAD_REQUEST},
            tag="deliveries",
            links=_links("delivery_id", "items/0/id", "getDelivery", "retryDelivery"),
            params=[
                _query("status", {"type": "string", "enum": list(DELIVERY_STATUSES)}, "only this status"),
                _query("subscription_id", {"type": "string", "maxLength": 64}, "only this subscription's"),
                _query("job_id", {"type": "string", "maxLength": 64}, "only this job's"),
                LIMIT,
                _cursor("dlv"),
            ],
        ),
    },
    "/v1/deliveries/{delivery_id}": {
        "get": _op(
            "getDelivery",
            "A delivery with every attempt (status, latency, error, response body)",
            {"200": _json(ref("DeliveryDetail"), "the delivery"), "404": NOT_FOUND},
            tag="deliveries",
            params=[DELIVERY_ID],
        ),
    },
    "/v1/deliveries/retry": {
        "post": _op(
            "retryDeliveries",
            "Send again now every delivery the filter matches (default: every dead one), each job's in order",
            {"202": _json(ref("Queued"), "how many deliveries were queued (0 when nothing matched)")},
            tag="deliveries",
            body=ref("BulkRetry"),
            body_required=False,
        ),
    },
    "/v1/deliveries/{delivery_id}/retry": {
        "post": _op(
            "retryDelivery",
            "Make a dead (or waiting) delivery due now",
            {
                "202": _json(ref("Delivery"), "the delivery, pending again"),
                "404": NOT_FOUND,
                "409": _error("the delivery is being sent right now, or its subscription is disabled"),
            },
            tag="deliveries",
            links=_links("delivery_id", "id", "getDelivery"),
            params=[DELIVERY_ID],
        ),
    },
    "/v1/events": {
        "get": _op(
            "listEvents",
            "The event feed, OLDEST first: pass next_cursor as ?after= to get only later events (follow the stream)",
            {
                "200": _json(ref("EventPage"), "a page of events, each the body as delivered plus its id"),
                "400": BAD_REQUEST,
            },
            tag="events",
            params=[
                _query("type", {"type": "string", "enum": list(EVENT_TYPES)}, "only events of this type"),
                _query("job_id", {"type": "string", "maxLength": 64}, "only this job's events"),
                LIMIT,
                _query(
                    "after",
                    {"type": "string", "pattern": CURSOR_PATTERN},
                    "next_cursor of a previous answer (absent: from the oldest event)",
                ),
            ],
        ),
    },
    "/v1/event-types": {
        "get": _op(
            "listEventTypes",
            "The event catalogue: each type with a JSON Schema (2020-12) its events validate against",
            {"200": _json(ref("EventTypeList"), "every event type hookline emits")},
            tag="events",
        ),
    },
    "/v1/blend": {
        "post": _op(
            "submitBlend",
            "Submit a blend to an upstream through hookline (validated first; the submit queue sends it)",
            {
                "202": _json(ref("SubmittedJob"), "the job and its submission, queued"),
                "422": _error("an image cannot be fetched or used, or the callback URL is too long for useapi.net"),
            },
            tag="upstream",
            body=ref("Blend"),
        ),
    },
    "/v1/archive/{sha256}": {
        "get": _op(
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
            params=[_path_id("sha256", "the image's SHA-256, 64 lower-case hex digits")],
            admin=False,
        ),
    },
    "/v1/api-keys": {
        "post": _op(
            "createApiKey",
            "Make an API key with scopes (admin): the answer carries the key, shown this once",
            {"201": _json(ref("NewApiKeyCreated"), "the key, with the key itself")},
            tag="api-keys",
            body=ref("NewApiKey"),
            links=_links("key_id", "id", "revokeApiKey"),
        ),
        "get": _op(
            "listApiKeys",
            "Every API key not revoked, newest first (never the keys themselves)",
            {"200": _json(ref("ApiKeyList"), "the keys")},
            tag="api-keys",
        ),
    },
    "/v1/api-keys/{key_id}": {
        "delete": _op(
            "revokeApiKey",
            "Revoke an API key: refused from now on, by every process",
            {"204": {"description": "revoked"}, "404": NOT_FOUND},
            tag="api-keys",
            params=[_path_id("key_id", "API key id (key_...)")],
        ),
    },
    "/callbacks/{provider}/{token}": {
        "post": _op(
            "receiveCallback",
            "The callback target for upstream APIs (notifyHook / replyUrl); `hookline info` prints the URLs",
            {
                "200": _json(
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
                "400": _json(
                    {
                        "allOf": [ref("Error")],
                        "properties": {"callback_id": {"type": "string"}, "outcome": {"const": "rejected"}},
                    },
                    "not JSON, or no task id: kept in the callback log as rejected",
                ),
                "401": _error("wrong callback token"),
                "404": _error("unknown provider"),
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
                _path_id("token", "the callback token"),
            ],
            body={"description": "the upstream's payload, kept as received"},
            admin=False,
        ),
    },
    "/healthz": {
        "get": _op(
            "health",
            "The process is up",
            {"200": _json({"type": "object", "properties": {"status": {"const": "ok"}}}, "up")},
            tag="operations",
            admin=False,
        )
    },
    "/readyz": {
        "get": _op(
            "ready",
            "The store answers",
            {
                "200": _json({"type": "object", "properties": {"status": {"const": "ready"}}}, "ready"),
                "503": _error("the database does not answer"),
            },
            tag="operations",
            admin=False,
        )
    },
    "/metrics": {
        "get": _op(
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


for _path, _item in PATHS.items():
    if _path.startswith("/v1/") and "post" in _item:
        _item["post"] = idempotency.described(_item["post"])


def document(public_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "hookline management API",
            "version": __version__,
            "description": "Jobs, their callbacks and events, subscriptions and deliveries. Every /v1 route needs "
            "`Authorization: Bearer <token>`: the admin token, or an API key (`hlk_...`, `POST /v1/api-keys`) "
            "with the operation's scope (a 403 names a missing one). Lists are newest first: follow `next_cursor` "
            "(the event feed, `/v1/events`, is oldest first: follow it with `?after=`). Errors are "
            '`{"error": {"code", "message"}}`.',
        },
        "security": [{"adminToken": []}],
        "paths": PATHS,
        "webhooks": WEBHOOKS,
        "components": {
            "schemas": {**COMPONENTS, **EVENT_COMPONENTS},
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the admin token (an admin credential), or an API key with the needed scope",
                }
            },
        },
    }
    if public_url:
        doc["servers"] = [{"url": public_url}]
    return doc


def routes(rt: Runtime) -> list[Route]:
    body = JSONResponse(document(rt.config.public_url)).body

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route("/openapi.json", openapi, methods=["GET"])]
