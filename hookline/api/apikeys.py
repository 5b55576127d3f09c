"""``/v1/api-keys`` (``admin`` only): make an API key with scopes (the key is in that answer and
never again), list the keys (never the keys themselves), revoke one (at once, everywhere)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api import fields
from hookline.api.auth import ADMIN, KEY_PREFIX, SCOPES, scoped
from hookline.api.http import JSONResponse, parse_time, path_id, read_json_object
from hookline.apikeys import ApiKey, key_hash
from hookline.errors import InputError
from hookline.ids import new_id
from hookline.runtime import Runtime

KEY_FIELDS = ("name", "scopes", "expires_at")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
PREFIX_SHOWN = len(KEY_PREFIX) + 6


def make_key(name: str, scopes: list[str], expires_at: float | None, now: float) -> tuple[ApiKey, str]:
    """A new key (not yet stored) and the key text to show once: ``hlk_`` and 256 random bits."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        id=new_id("key"),
        name=name,
        scopes=tuple(scopes),
        key_hash=key_hash(key),
        prefix=key[:PREFIX_SHOWN],
        created_at=now,
        expires_at=expires_at,
    )
    return record, key


def checked_scopes(value: Any) -> list[str]:
    """A non-empty list of known scopes (duplicates dropped), or a 400 that lists them."""
    scopes = fields.string_list({"scopes": value}, "scopes", options=SCOPES, max_items=len(SCOPES) * 2)
    if not scopes:
        raise InputError(f"scopes must list at least one of {', '.join(SCOPES)}", code="invalid_field")
    return scopes


def checked_expiry(value: Any, now: float) -> float | None:
    """``expires_at`` as a time in the future, or None (never expires)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise InputError(
            "expires_at must be an RFC 3339 time with its offset, such as 2026-11-21T10:44:00Z", code="invalid_field"
        )
    expires_at = parse_time(value, "expires_at")
    if expires_at <= now:
        raise InputError("expires_at must be in the future", code="invalid_field")
    return expires_at


def created_body(record: ApiKey, key: str) -> dict[str, Any]:
    """The answer to a creation: the one time the key is shown."""
    return {**record.to_api(), "key": key}


def routes(rt: Runtime) -> list[Route]:
    store = rt.store

    async def create(request: Request) -> Response:
        doc = await read_json_object(request, rt.config.max_body_bytes)
        fields.only(doc, KEY_FIELDS)
        name = fields.required_text(doc, "name", max_length=200)
        if "scopes" not in doc:
            raise InputError(f"scopes is required: a list of {', '.join(SCOPES)}", code="invalid_field")
        scopes = checked_scopes(doc["scopes"])
        now = rt.clock.now()
        record, key = make_key(name, scopes, checked_expiry(doc.get("expires_at"), now), now)
        await store.create_api_key(record)
        return JSONResponse(created_body(record, key), status_code=201)

    async def list_all(request: Request) -> Response:
        return JSONResponse({"items": [k.to_api() for k in await store.list_api_keys()]})

    async def revoke(request: Request) -> Response:
        await store.revoke_api_key(path_id(request, "key_id", "API key"), rt.clock.now())
        return Response(status_code=204)

    return [
        Route("/v1/api-keys", scoped(rt, ADMIN, create), methods=["POST"]),
        Route("/v1/api-keys", scoped(rt, ADMIN, list_all), methods=["GET"]),
        Route("/v1/api-keys/{key_id}", scoped(rt, ADMIN, revoke), methods=["DELETE"]),
    ]
