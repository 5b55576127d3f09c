"""The admin and callback tokens: from the configuration, or generated once and stored."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hookline.config import Config
from hookline.store import Store


@dataclass(frozen=True)
class Tokens:
    admin: str
    callback: str
    admin_generated: bool
    callback_generated: bool


async def resolve(config: Config, store: Store) -> Tokens:
    """Use the configured tokens; for each one unset, use (or generate and store) the stored one."""
    admin = config.admin_token or await store.ensure_setting("admin_token", secrets.token_urlsafe(32))
    callback = config.callback_token or await store.ensure_setting("callback_token", secrets.token_urlsafe(32))
    return Tokens(admin, callback, config.admin_token is None, config.callback_token is None)


def banner(config: Config, tokens: Tokens, version: str) -> str:
    """What ``serve`` prints at start-up and ``info`` prints: where to point upstreams and clients."""

    def shown(token: str, generated: bool, env: str) -> str:
        if generated:
            return f"{token}   (generated and stored; set {env} to choose your own)"
        return f"{token[:4]}…   (from {env})"

    def url(provider: str) -> str:
        token = tokens.callback if tokens.callback_generated else tokens.callback[:4] + "…"
        return f"{config.public_url}/callbacks/{provider}/{token}"

    return "\n".join(
        [
            f"hookline {version} — {config.public_url} (role {config.role}, database {config.safe_database_url})",
            "  admin token (Authorization: Bearer …): "
            + shown(tokens.admin, tokens.admin_generated, "HOOKLINE_ADMIN_TOKEN"),
            f"  callback token: {shown(tokens.callback, tokens.callback_generated, 'HOOKLINE_CALLBACK_TOKEN')}",
            "  callback URLs to give the upstreams:",
            f"    midjourney-proxy notifyHook: {url('mjproxy')}",
            f"    useapi.net replyUrl:         {url('useapi')}",
            f"  management API: {config.public_url}/v1/jobs   dashboard: {config.public_url}/",
        ]
    )


def redact(body: bytes, token: str) -> bytes:
    """``body`` with every occurrence of the callback ``token`` replaced by ``***``.

    The upstreams echo the callback URL they were given (mjproxy ``properties.notifyHook``, useapi
    ``replyUrl``), and it carries the callback token. A callback's body is what subscribers get as
    ``data.upstream``, so it is masked before it is parsed or stored. The token's characters
    (``A-Za-z0-9-_.``, see ``config``) are never escaped in JSON nor in URLs, so the result is the
    same JSON document with the token masked."""
    if not token:
        return body
    raw = token.encode()
    return body.replace(raw, b"***") if raw in body else body
