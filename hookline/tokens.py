"""The admin and callback tokens: from the configuration, or generated once and stored."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from hookline.config import Config
from hookline.store import Store

# Tokens are at least this long (config refuses shorter ones), so shorter path segments are kept.
MIN_TOKEN_LENGTH = 16
_API_KEY = re.compile(r"hlk_[A-Za-z0-9_-]+")
_PERCENT_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")  # not the "46%" of a progress: only a URL's escapes


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
    """``body`` with every occurrence of the callback ``token`` replaced by ``***``, however JSON
    spells it.

    The upstreams echo the callback URL they were given (mjproxy ``properties.notifyHook``, useapi
    ``replyUrl``), and it carries the callback token. A callback's body is what subscribers get as
    ``data.upstream``, so it is masked before it is parsed or stored. The token's characters
    (``A-Za-z0-9-_.``, see ``config``) need no escaping, but JSON may spell any of them as
    ``\\uXXXX`` (``\\u0063allback...``), which parses to the token itself, and an upstream may
    percent-encode the URL it echoes (``%63allback...``): those spellings are masked too, so the
    stored body and everything parsed from it are the same JSON document with the token masked."""
    if not token:
        return body
    raw = token.encode()
    if raw in body:
        body = body.replace(raw, b"***")
    # Only then can another spelling be there (rare). A lone byte is found with memchr, many times
    # faster than a pair or a pattern: most bodies have no backslash, and only a progress's "%".
    if (b"\\" in body and b"\\u" in body) or (b"%" in body and _PERCENT_ESCAPE.search(body)):
        body = _spellings(token).sub(b"***", body)
    return body


@functools.lru_cache(maxsize=4)
def _spellings(token: str) -> re.Pattern[bytes]:
    """Every spelling of ``token`` in a JSON body: each character as itself, as ``\\u00XX`` (JSON)
    or as ``%XX`` (a URL the upstream percent-encoded), hex digits in either case."""

    def hex_digits(number: int, width: int) -> str:
        return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{width}x}")

    def escaped(char: str) -> bytes:
        json_escape = b"\\\\u" + hex_digits(ord(char), 4).encode()
        url_escape = b"%" + hex_digits(ord(char), 2).encode()
        return b"(?:" + re.escape(char.encode()) + b"|" + json_escape + b"|" + url_escape + b")"

    return re.compile(b"".join(escaped(char) for char in token))


def redact_path(path: str, hidden: Iterable[str]) -> str:
    """A request path safe to log or echo in an error: every occurrence of a ``hidden`` value, and
    every segment as long as a token under ``/callbacks`` (``/callbacks/<token>``,
    ``/callbacks/x/<token>``, ``//callbacks/mjproxy/<token>``: where a token goes, right or wrong),
    become ``***``."""
    for secret in hidden:
        if secret and secret in path:
            path = path.replace(secret, "***")
    if "hlk_" in path:  # an API key pasted into a URL by mistake
        path = _API_KEY.sub("hlk_***", path)
    if "callbacks" not in path:
        return path
    parts = path.split("/")
    named = [i for i, part in enumerate(parts) if part]
    if named and parts[named[0]] == "callbacks":  # not /v1/callbacks/...: that is the admin API
        start = named[0] + 1
        parts[start:] = [p if len(p) < MIN_TOKEN_LENGTH else "***" for p in parts[start:]]
    return "/".join(parts)
