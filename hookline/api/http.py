"""HTTP plumbing shared by every route: JSON in and out, the error shape, the admin token check,
and validated query parameters.

Errors always have the shape ``{"error": {"code": ..., "message": ...}}`` with a message a person
can act on. Handlers raise :class:`~hookline.errors.InputError` subclasses; ``error_response``
turns them into answers.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hookline.clock import parse_iso
from hookline.errors import InputError, NotFound, Unauthorized
from hookline.nesting import MAX_DEPTH, too_deep

Handler = Callable[[Request], Awaitable[Response]]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def input_error_response(exc: InputError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(exc.status, exc.code, exc.message, headers)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing (413) one larger than ``max_bytes`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and is_number(declared) and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> InputError:
    return InputError(
        f"the body is larger than {max_bytes} bytes (HOOKLINE_MAX_BODY_BYTES)", code="body_too_large", status=413
    )


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise InputError("the body is empty; send a JSON object", code="invalid_json")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(document, dict):
        raise InputError("the body must be a JSON object", code="invalid_json")
    if too_deep(body, document):
        raise InputError(f"the body nests arrays and objects more than {MAX_DEPTH} levels deep", code="invalid_json")
    return document


def check_bearer(request: Request, token: str) -> None:
    """Raise Unauthorized unless ``Authorization: Bearer <token>`` is present and right."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("send the admin token as 'Authorization: Bearer <token>' (hookline info prints it)")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("the admin token is wrong ('hookline info' prints the right one)")


def query_limit(request: Request, default: int = 50, maximum: int = 500) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not is_number(raw) or not 1 <= int(raw) <= maximum:
        raise InputError(f"limit must be a whole number from 1 to {maximum}", code="invalid_query")
    return int(raw)


def query_choice(request: Request, name: str, options: Iterable[str]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    allowed = list(options)
    if raw not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}", code="invalid_query")
    return raw


def query_text(request: Request, name: str, max_length: int = 1024) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise InputError(f"{name} must be at most {max_length} characters", code="invalid_query")
    if "\x00" in raw:
        raise InputError(f"{name} must not contain NUL characters", code="invalid_query")
    return raw


def query_cursor(request: Request, prefix: str) -> str | None:
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    if not raw.startswith(prefix + "_") or len(raw) > 64 or not _is_id_text(raw):
        raise InputError("cursor must be the next_cursor of a previous page", code="invalid_query")
    return raw


def path_id(request: Request, name: str, what: str) -> str:
    """The id in the path parameter ``name``; 404 "no <what> ..." at once for text that cannot be
    an id (ids are ASCII letters, digits and ``_``), without asking the store."""
    raw: str = request.path_params[name]
    if not raw or len(raw) > 64 or not _is_id_text(raw):
        raise NotFound(f"no {what} {raw!r}")
    return raw


def parse_time(value: Any, name: str) -> float:
    if not isinstance(value, str):
        raise InputError(f"{name} must be an ISO-8601 time string such as 2026-11-21T10:44:00Z", code="invalid_field")
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}", code="invalid_field") from None


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²", which ``int`` then refuses."""
    return text.isascii() and text.isdigit()


def _is_id_text(text: str) -> bool:
    """Letters, digits and ``_`` in ASCII (ids are Crockford base32 with a prefix)."""
    return text.isascii() and text.replace("_", "").isalnum()


def page_body(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
