"""``Idempotency-Key`` on every ``POST`` under ``/v1`` (SPEC Part 2, "Idempotency"): one pure ASGI
middleware, so every such route has it, present and future, without knowing.

A request with the header, from a valid credential, claims the key in the store
(``hookline.store.idempotency``) before its route runs. Then:

- the first request runs; its answer (status, content type, body) is kept for 24 h when it is
  one a retry should get again: any answer below 500 but 409 and 429, which say "try again" (the
  state was busy) — a 5xx, a crash or one of those gives the key back, and the next try runs;
- a repeat (same credential, key, method, path, query and body) gets the kept answer with
  ``Idempotent-Replayed: true``, and nothing runs: no second job, no second upstream submission;
- the same key with another request → 422 ``idempotency_key_reused``;
- a repeat while the first is still running → 409 ``idempotency_key_in_use``.

The running request holds its key under a lock it extends while it runs, in the database: so this
holds across processes on PostgreSQL, and a request whose process died frees its key within
``HOOKLINE_IDEMPOTENCY_LOCK`` seconds (30). Requests without the header, or without a valid
credential (the route answers 401), pass through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.api.auth import authenticate
from hookline.api.http import error_response, input_error_response, is_number
from hookline.api.jsonschema import ref
from hookline.errors import HooklineError, InputError, Unauthorized
from hookline.runtime import Runtime
from hookline.store.idempotency import Answer

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255
RETRY_NOW = (409, 429)  # answers that say "try again": not kept


async def credential_id(rt: Runtime, request: Request) -> str | None:
    """Who sent ``request``, as far as idempotency keys go (keys are per credential): ``"admin"``
    for the admin token, an API key's id for the key, None without a valid credential."""
    try:
        return (await authenticate(rt, request)).id
    except Unauthorized:
        return None


def parse_key(values: list[bytes]) -> str:
    """The one ``Idempotency-Key`` header's value: 1 to 255 printable ASCII characters."""
    if len(values) != 1:
        raise _bad_key("send one Idempotency-Key header, not several")
    raw = values[0]
    if not 1 <= len(raw) <= MAX_KEY or any(not 0x20 <= byte <= 0x7E for byte in raw):
        raise _bad_key(f"Idempotency-Key must be 1 to {MAX_KEY} printable ASCII characters")
    return raw.decode("ascii")


def _bad_key(message: str) -> InputError:
    return InputError(message, code="invalid_idempotency_key")


def fingerprint(scope: Scope, body: bytes) -> str:
    """What makes two requests "the same": method, path, query string and body bytes."""
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b"")):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(body)
    return digest.hexdigest()


class Idempotency:
    """The middleware (see the module doc)."""

    def __init__(self, app: ASGIApp, *, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        # The largest body any /v1 route takes (a blend carries up to five images as base64 data
        # URIs): a larger one is passed through unbuffered, and its route refuses it (413).
        self.max_body = max(rt.config.max_body_bytes, 8 * rt.config.upstream.blend_image_max_bytes + (1 << 17))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope["headers"] if name == HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        credential = await credential_id(self.rt, Request(scope))
        if credential is None:
            await self.app(scope, receive, send)  # the route answers 401
            return
        try:
            key = parse_key(values)
        except InputError as exc:
            await input_error_response(exc)(scope, receive, send)
            return
        chunks, complete, disconnected = await self._read(scope, receive)
        if disconnected:
            return  # the client gave up before sending its body: nothing ran, nothing to answer
        replay_receive = _replaying(chunks, complete, receive)
        if not complete:
            await self.app(scope, replay_receive, send)  # too large: the route refuses it
            return
        await self._serve(scope, replay_receive, send, credential, key, fingerprint(scope, b"".join(chunks)))

    async def _read(self, scope: Scope, receive: Receive) -> tuple[list[bytes], bool, bool]:
        """The body's chunks, up to ``max_body``: (chunks, whether that is all of it, whether the
        client disconnected)."""
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and is_number(declared.decode("latin-1")) and int(declared) > self.max_body:
            return [], False, False
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return chunks, False, True
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return chunks, True, False
            if size > self.max_body:
                return chunks, False, False

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, credential: str, key: str, request_fingerprint: str
    ) -> None:
        store, clock = self.rt.store, self.rt.clock
        owner = secrets.token_hex(16)
        claim = await store.claim_idempotency_key(
            credential, key, request_fingerprint, owner, clock.now(), self.rt.config.idempotency_lock
        )
        if claim.state == "replay":
            assert claim.answer is not None
            await _replay(claim.answer)(scope, receive, send)
            return
        if claim.state == "reused":
            await error_response(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request (method, path or body) in the last 24 h; "
                "send a new key with a new request",
            )(scope, receive, send)
            return
        if claim.state == "in_use":
            await error_response(
                409,
                "idempotency_key_in_use",
                "the first request with this Idempotency-Key is still running; send it again in a moment "
                "to get its answer",
                {"Retry-After": "1"},
            )(scope, receive, send)
            return
        await self._run(scope, receive, send, credential, key, owner)

    async def _run(self, scope: Scope, receive: Receive, send: Send, credential: str, key: str, owner: str) -> None:
        """Run the route holding the key. Its answer is kept (or the key given back) *before* it
        goes out: a client that has the answer and sends the request again gets it replayed, never
        "in use". The answers are small JSON documents, so holding one back costs nothing."""
        store, clock = self.rt.store, self.rt.clock
        start: Message | None = None
        body: list[bytes] = []
        kept = False

        async def capture(message: Message) -> None:
            nonlocal start, kept
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = start["status"]
            if status < 500 and status not in RETRY_NOW:
                found = next((v for k, v in start.get("headers", []) if k.lower() == b"content-type"), None)
                answer = Answer(status, found.decode("latin-1") if found is not None else None, b"".join(body))
                kept = await self._keep(credential, key, owner, answer, clock.now())
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(body), "more_body": False})

        holding = asyncio.create_task(self._hold(credential, key, owner))
        try:
            await self.app(scope, receive, capture)
        finally:
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holding
            if not kept:
                # The request failed (or its answer says "try again"): the next try must run. If
                # this fails too, the lock runs out by itself.
                with contextlib.suppress(HooklineError):
                    await store.release_idempotency_key(credential, key, owner)

    async def _keep(self, credential: str, key: str, owner: str, answer: Answer, now: float) -> bool:
        try:
            kept = await self.rt.store.save_idempotent_answer(credential, key, owner, answer, now)
        except HooklineError as exc:  # the answer still goes out; a retry with the key runs again
            log.warning("could not keep an idempotent answer: %s", exc)
            return False
        if not kept:
            log.warning("an idempotent request outlived its key's lock; a retry with its key will run again")
        return kept

    async def _hold(self, credential: str, key: str, owner: str) -> None:
        """Extend the key's lock while the request runs, so that only a dead request loses it."""
        while True:
            await asyncio.sleep(self.rt.config.idempotency_lock / 3)
            try:
                held = await self.rt.store.extend_idempotency_lock(
                    credential, key, owner, self.rt.clock.now() + self.rt.config.idempotency_lock
                )
            except HooklineError as exc:
                log.warning("could not extend an idempotency key's lock: %s", exc)
                continue
            if not held:
                return


def _replaying(chunks: list[bytes], complete: bool, receive: Receive) -> Receive:
    """``receive`` for the route: the chunks already read, then the rest from the client."""
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or not complete}
        return await receive()  # the rest of a large body, or the client's disconnect when it comes

    return replay


def _replay(answer: Answer) -> Response:
    response = Response(answer.body, status_code=answer.status, headers={REPLAYED: "true"})
    if answer.content_type is not None:
        response.headers["content-type"] = answer.content_type
    return response


# The OpenAPI document (hookline/api/openapi.py applies ``described`` to every POST under /v1) ---
KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[ -~]+$"},
    "description": "Send the request again with the same key and body (after a timeout, say) and get the first "
    "answer again instead of a second effect. Kept 24 h, per credential; 409, 429 and 5xx answers are not kept.",
}
REPLAYED_HEADER: dict[str, Any] = {
    REPLAYED: {
        "description": "`true` when this is the kept answer to an earlier request with the same Idempotency-Key",
        "schema": {"const": "true"},
    }
}
ANSWERS = {
    "400": "Idempotency-Key is not 1 to 255 printable ASCII characters",
    "409": "`idempotency_key_in_use`: the first request with this Idempotency-Key is still running",
    "422": "`idempotency_key_reused`: this Idempotency-Key was used for another request in the last 24 h",
}


def described(op: dict[str, Any]) -> dict[str, Any]:
    """``op`` (an OpenAPI operation) with the Idempotency-Key header and the answers it brings."""
    responses = dict(op["responses"])
    for code, answer in responses.items():
        if code.startswith("2"):
            responses[code] = {**answer, "headers": REPLAYED_HEADER}
    for code, text in ANSWERS.items():
        known = responses.get(code)
        if known is None:
            responses[code] = {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
        else:
            responses[code] = {**known, "description": f"{known['description']}; or {text}"}
    return {**op, "parameters": [*op.get("parameters", []), KEY_PARAMETER], "responses": responses}
