"""``/v1/subscriptions``: where events go. Create (the answer carries the ``whsec_`` secret), list,
show, change, delete, rotate the secret (the old one keeps signing for 24 hours) and replay."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api import fields, subsettings
from hookline.api.auth import may, scoped
from hookline.api.http import (
    JSONResponse,
    page_body,
    parse_time,
    path_id,
    query_cursor,
    query_limit,
    read_json_object,
)
from hookline.changes import SubscriptionChanges
from hookline.egress import EgressGuard
from hookline.errors import EgressRefused, InputError, NotFound
from hookline.fanout import FILTER_KEYS
from hookline.ids import new_id
from hookline.models import EVENT_TYPES, PROVIDERS, SigningSecret, Subscription
from hookline.queries import SubscriptionQuery
from hookline.runtime import Runtime
from hookline.signing import generate_secret, secret_key

ROTATION_OVERLAP = 24 * 3600.0
CREATE_FIELDS = ("url", "event_types", "filter", "description", "secret", *subsettings.SETTINGS_FIELDS)
PATCH_FIELDS = ("url", "event_types", "filter", "description", "enabled", "paused", *subsettings.SETTINGS_FIELDS)


def routes(rt: Runtime) -> list[Route]:
    store = rt.store

    async def create(request: Request) -> Response:
        doc = await read_json_object(request, rt.config.max_body_bytes)
        fields.only(doc, CREATE_FIELDS)
        sub = await build_subscription(rt, doc, rt.clock.now())
        await store.create_subscription(sub)
        return JSONResponse(sub.to_api(with_secret=True), status_code=201)

    async def list_all(request: Request) -> Response:
        page = await store.list_subscriptions(
            SubscriptionQuery(limit=query_limit(request), cursor=query_cursor(request, "sub"))
        )
        return JSONResponse(page_body([s.to_api() for s in page.items], page.next_cursor))

    async def show(request: Request) -> Response:
        sub_id = path_id(request, "sub_id", "subscription")
        sub = await store.get_subscription(sub_id)
        if sub is None:
            raise NotFound(f"no subscription {sub_id!r}")
        # subscriptions:read sees a subscription without its secret: the secret forges events.
        return JSONResponse(sub.to_api(with_secret=may(request, "subscriptions:write")))

    async def patch(request: Request) -> Response:
        doc = await read_json_object(request, rt.config.max_body_bytes)
        fields.only(doc, PATCH_FIELDS)
        changes = SubscriptionChanges(set_fields=frozenset(name for name in doc if name in PATCH_FIELDS))
        if "url" in doc:
            changes.url = await _checked_url(rt, doc, "url")
        if "event_types" in doc:
            changes.event_types = fields.string_list(doc, "event_types", options=EVENT_TYPES)
        if "filter" in doc:
            changes.filter = _filter(doc)
        if "description" in doc:
            changes.description = fields.text(doc, "description")
        if "enabled" in doc:
            enabled = fields.boolean(doc, "enabled")
            if enabled is None:
                raise InputError("enabled must be true or false", code="invalid_field")
            changes.enabled = enabled
        if "headers" in doc:
            changes.headers = subsettings.headers(doc)
        if "rate_limit" in doc:
            changes.rate_limit = subsettings.rate_limit(doc)
        if "retry_schedule" in doc:
            changes.retry_schedule = subsettings.retry_schedule(doc)
        if "paused" in doc:
            paused = fields.boolean(doc, "paused")
            if paused is None:
                raise InputError("paused must be true or false", code="invalid_field")
            changes.paused = paused
        sub = await store.update_subscription(path_id(request, "sub_id", "subscription"), changes, rt.clock.now())
        return JSONResponse(sub.to_api())

    async def delete(request: Request) -> Response:
        await store.delete_subscription(path_id(request, "sub_id", "subscription"))
        return Response(status_code=204)

    async def rotate(request: Request) -> Response:
        doc = await read_json_object(request, rt.config.max_body_bytes) if await _has_body(request) else {}
        fields.only(doc, ("secret",))
        secret = _secret(doc) or generate_secret()
        sub = await store.rotate_secret(
            path_id(request, "sub_id", "subscription"), secret, rt.clock.now(), ROTATION_OVERLAP
        )
        return JSONResponse(sub.to_api(with_secret=True))

    async def replay(request: Request) -> Response:
        doc = await read_json_object(request, rt.config.max_body_bytes)
        fields.only(doc, ("since", "until"))
        if "since" not in doc:
            raise InputError("since is required: an ISO-8601 time such as 2026-11-21T10:44:00Z", code="invalid_field")
        since = parse_time(doc["since"], "since")
        until = parse_time(doc["until"], "until") if doc.get("until") is not None else None
        if until is not None and until <= since:
            raise InputError("until must be later than since", code="invalid_field")
        count = await store.replay(path_id(request, "sub_id", "subscription"), since, until, rt.clock.now())
        return JSONResponse({"replayed": count}, status_code=202)

    return [
        Route("/v1/subscriptions", scoped(rt, "subscriptions:write", create), methods=["POST"]),
        Route("/v1/subscriptions", scoped(rt, "subscriptions:read", list_all), methods=["GET"]),
        Route("/v1/subscriptions/{sub_id}", scoped(rt, "subscriptions:read", show), methods=["GET"]),
        Route("/v1/subscriptions/{sub_id}", scoped(rt, "subscriptions:write", patch), methods=["PATCH"]),
        Route("/v1/subscriptions/{sub_id}", scoped(rt, "subscriptions:write", delete), methods=["DELETE"]),
        Route("/v1/subscriptions/{sub_id}/rotate-secret", scoped(rt, "subscriptions:write", rotate), methods=["POST"]),
        Route("/v1/subscriptions/{sub_id}/replay", scoped(rt, "subscriptions:write", replay), methods=["POST"]),
    ]


async def build_subscription(rt: Runtime, doc: dict[str, Any], now: float, *, field_name: str = "url") -> Subscription:
    """A new (not yet stored) subscription from a validated request body."""
    url = await _checked_url(rt, doc, "url", shown_as=field_name)
    return Subscription(
        id=new_id("sub"),
        url=url,
        event_types=fields.string_list(doc, "event_types", options=EVENT_TYPES),
        filter=_filter(doc),
        description=fields.text(doc, "description"),
        secrets=[SigningSecret(_secret(doc) or generate_secret(), now)],
        enabled=True,
        disabled_reason=None,
        job_id=None,
        created_at=now,
        updated_at=now,
        headers=subsettings.headers(doc),
        rate_limit=subsettings.rate_limit(doc),
        retry_schedule=subsettings.retry_schedule(doc),
    )


async def _checked_url(rt: Runtime, doc: dict[str, Any], name: str, *, shown_as: str | None = None) -> str:
    """The URL in ``doc[name]``, checked as every subscriber URL (and ``callback_url``) is: an
    http(s) URI, https when ``HOOKLINE_HTTPS_ONLY``, a host that resolves, and every address it
    resolves to allowed by the egress guard. 400 ``url_refused`` otherwise."""
    shown = shown_as or name
    url = fields.http_url({shown: doc.get(name)}, shown, required=True)
    assert url is not None
    if rt.config.delivery.https_only and not url.lower().startswith("https://"):
        raise InputError(
            f"{shown} must be an https:// URL: this hookline sends events only over TLS (HOOKLINE_HTTPS_ONLY)",
            code="url_refused",
        )
    try:
        await EgressGuard.from_config(rt.config).check_url(url)
    except EgressRefused as exc:
        raise InputError(f"{shown} is refused: {exc}", code="url_refused") from None
    return url


def _filter(doc: dict[str, Any]) -> dict[str, Any]:
    flt = fields.json_object(doc, "filter") or {}
    fields.only(flt, FILTER_KEYS)
    fields.choice(flt, "provider", PROVIDERS)
    fields.text(flt, "correlation_key")
    fields.text(flt, "correlation_key_prefix")
    fields.json_object(flt, "metadata")
    subsettings.state_filter(flt)
    return {k: v for k, v in flt.items() if v is not None}


def _secret(doc: dict[str, Any]) -> str | None:
    secret = fields.text(doc, "secret", max_length=200)
    if secret is None:
        return None
    try:
        secret_key(secret)
    except ValueError as exc:
        raise InputError(f"secret: {exc}", code="invalid_field") from None
    return secret


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return bool(length and length != "0") or "chunked" in request.headers.get("transfer-encoding", "")
