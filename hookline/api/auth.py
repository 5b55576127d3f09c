"""Who may call a management route: credentials and scopes (issue 15).

A credential is ``Authorization: Bearer <token>``: the admin token (``HOOKLINE_ADMIN_TOKEN``, an
``admin`` credential) or an API key (``hlk_...``, made with ``POST /v1/api-keys``) with the
scopes it was given. ``admin`` allows everything.

Every ``/v1`` route declares the one scope it needs by wrapping its handler: ``scoped(rt,
"jobs:read", handler)``, or ``public(handler)`` for the few a subscriber may call with no
credential. ``tests/hookline/test_scopes.py`` walks the app's routes and fails for a route that
declares nothing. Answers: no or unknown, revoked or expired credential → 401; a credential
without the scope → 403 ``forbidden`` naming the scope. The handler finds the caller in
``request.state.credential`` (``"admin"`` or the key's id: what idempotency records are keyed
by) and its scopes in ``request.state.scopes``. A ``:write`` scope includes its ``:read``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from hookline.api.http import Handler
from hookline.apikeys import key_hash
from hookline.errors import Forbidden, Unauthorized
from hookline.runtime import Runtime

SCOPES: dict[str, str] = {
    "jobs:read": "read jobs, their timelines and the callback log",
    "jobs:write": "register jobs, submit blends (POST /v1/blend), erase jobs",
    "subscriptions:read": "read subscriptions, without their secrets",
    "subscriptions:write": "create, change and delete subscriptions (with their secrets), rotate secrets, replay",
    "deliveries:read": "read deliveries and their attempts",
    "deliveries:write": "retry deliveries",
    "events:read": "read the event feed (/v1/events) and the catalogue (/v1/event-types)",
    "admin": "everything, including API keys and the dashboard",
}
ADMIN = "admin"
PUBLIC = "public"  # the marker of a route that needs no credential
KEY_PREFIX = "hlk_"
SCOPE_ATTRIBUTE = "hookline_scope"  # set on every guarded handler: the scope it declared


@dataclass(frozen=True, slots=True)
class Credential:
    """Who made a request: ``id`` is ``"admin"`` for the admin token, else the API key's id."""

    id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return allowed(self.scopes, scope)


def allowed(held: frozenset[str], scope: str) -> bool:
    """Whether ``held`` scopes grant ``scope``: ``admin`` grants everything, and a ``:write``
    scope its ``:read`` (a key that may change subscriptions may see them)."""
    return ADMIN in held or scope in held or (scope.endswith(":read") and scope[:-5] + ":write" in held)


ADMIN_CREDENTIAL = Credential(ADMIN, frozenset({ADMIN}))


def bearer(request: Request) -> str:
    """The bearer token, or Unauthorized."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized(
            "send the admin token or an API key as 'Authorization: Bearer <token>' "
            "('hookline info' prints the admin token)"
        )
    return given


async def authenticate(rt: Runtime, request: Request) -> Credential:
    """The request's credential, or Unauthorized. An API key is looked up on every request, so a
    revoked key is refused at once by every process sharing the database. The key itself is never
    put in a message."""
    given = bearer(request)
    if rt.admin_token and hmac.compare_digest(given.encode(), rt.admin_token.encode()):
        return ADMIN_CREDENTIAL
    if not given.startswith(KEY_PREFIX) or len(given) > 200 or not given.isascii():
        raise Unauthorized(
            "the token is neither the admin token nor an API key ('hookline info' prints the admin token)"
        )
    hashed = key_hash(given)
    key = await rt.store.find_api_key(hashed)
    if key is None or not hmac.compare_digest(key.key_hash, hashed):
        raise Unauthorized("unknown API key")
    if key.revoked_at is not None:
        raise Unauthorized(f"the API key {key.id} was revoked")
    if key.expires_at is not None and key.expires_at <= rt.clock.now():
        raise Unauthorized(f"the API key {key.id} has expired")
    return Credential(key.id, frozenset(key.scopes))


def scoped(rt: Runtime, scope: str, handler: Handler) -> Handler:
    """``handler``, run only for a credential that has ``scope`` (or ``admin``)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")

    async def guarded(request: Request) -> Response:
        credential = await authenticate(rt, request)
        if not credential.allows(scope):
            held = ", ".join(sorted(credential.scopes))
            raise Forbidden(f"this needs the scope {scope!r}; the API key has {held}")
        request.state.credential = credential.id
        request.state.scopes = credential.scopes
        return await handler(request)

    return _declare(guarded, handler, scope)


def admin(rt: Runtime, handler: Handler) -> Handler:
    """``handler``, run only for an ``admin`` credential (the admin token, or a key with ``admin``)."""
    return scoped(rt, ADMIN, handler)


def public(handler: Handler) -> Handler:
    """``handler``, declared as needing no credential (a subscriber calls it)."""

    async def open_to_all(request: Request) -> Response:
        return await handler(request)

    return _declare(open_to_all, handler, PUBLIC)


def declared_scope(endpoint: Callable[..., object]) -> str | None:
    """The scope a route's endpoint declared (``PUBLIC`` for none needed), or None: undeclared."""
    scope = getattr(endpoint, SCOPE_ATTRIBUTE, None)
    return scope if isinstance(scope, str) else None


def may(request: Request, scope: str) -> bool:
    """Whether the request's credential (set by :func:`scoped`) has ``scope``."""
    return allowed(getattr(request.state, "scopes", frozenset()), scope)


def _declare(guarded: Handler, handler: Handler, scope: str) -> Handler:
    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    setattr(guarded, SCOPE_ATTRIBUTE, scope)
    return guarded
