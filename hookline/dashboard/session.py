"""Dashboard sessions: log in with the admin token (or an API key with the ``admin`` scope), get a
signed cookie; CSRF tokens per session.

The cookie holds ``{nonce, issued_at}`` signed with HMAC-SHA256 under a key derived from the admin
token, so changing the admin token logs every session out. The only thing stored server-side is
the nonce of each session logged out before it expired: logout revokes the session, not only the
browser's cookie. It
is HttpOnly, SameSite=Strict, Secure (and ``__Host-`` prefixed) when ``PUBLIC_URL`` is https, and
expires after :data:`SESSION_SECONDS`. Each session's CSRF token is an HMAC of its nonce: every
POST must carry it. The login form itself is protected by a double-submit token (a random cookie
repeated in the form), so another site cannot log a browser into an attacker's session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookline.api.auth import ADMIN, KEY_PREFIX
from hookline.api.http import error_response, read_body
from hookline.apikeys import key_hash
from hookline.dashboard.html import error_page
from hookline.errors import InputError
from hookline.runtime import Runtime

SESSION_SECONDS = 12 * 3600
LOGIN_COOKIE_SECONDS = 3600
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class Session:
    nonce: str
    issued_at: float
    csrf: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and checks session cookies and CSRF tokens for one running hookline."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.secure = rt.config.public_url.startswith("https://")
        prefix = "__Host-" if self.secure else ""
        self.cookie = f"{prefix}hookline_session"
        self.login_cookie = f"{prefix}hookline_login"

    def _key(self) -> bytes:
        # Derived on use: the admin token is resolved at start-up, after the routes are built.
        return hmac.new(self.rt.admin_token.encode(), b"hookline dashboard session v1", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key(), payload, hashlib.sha256).digest())

    def _csrf_for(self, nonce: str) -> str:
        return self._sign(b"csrf:" + nonce.encode())

    def check_token(self, given: str) -> bool:
        """True when ``given`` is the admin token (constant time)."""
        return bool(self.rt.admin_token) and hmac.compare_digest(given.encode(), self.rt.admin_token.encode())

    async def admin_credential(self, given: str) -> str | None:
        """``"admin"`` for the admin token; the key's id for a usable API key with the ``admin``
        scope (the dashboard needs admin); None otherwise."""
        if self.check_token(given):
            return ADMIN
        if not given.startswith(KEY_PREFIX) or len(given) > 200:
            return None
        hashed = key_hash(given)
        key = await self.rt.store.find_api_key(hashed)
        if key is None or not hmac.compare_digest(key.key_hash, hashed):
            return None
        return key.id if key.usable(self.rt.clock.now()) and ADMIN in key.scopes else None

    def issue(self, response: Response, credential: str = ADMIN) -> None:
        """Set a new session cookie; made with an API key, the session names it (``k``), so it
        ends when the key is revoked or expires."""
        nonce = secrets.token_urlsafe(18)
        data: dict[str, object] = {"n": nonce, "t": self.rt.clock.now()}
        if credential != ADMIN:
            data["k"] = credential
        payload = orjson.dumps(data)
        value = f"{_b64(payload)}.{self._sign(payload)}"
        self._set(response, self.cookie, value, SESSION_SECONDS)

    async def current(self, request: Request) -> Session | None:
        """The request's valid, unexpired and not logged-out session, or None."""
        raw = request.cookies.get(self.cookie, "")
        body, _, signature = raw.partition(".")
        if not body or not signature:
            return None
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = orjson.loads(payload)
            nonce, issued, key_id = str(data["n"]), float(data["t"]), data.get("k")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None
        if not 0 <= self.rt.clock.now() - issued < SESSION_SECONDS:
            return None
        if await self.rt.store.session_revoked(nonce):
            return None
        if key_id is not None and not await self._key_still_admin(str(key_id)):
            return None
        return Session(nonce, issued, self._csrf_for(nonce))

    async def _key_still_admin(self, key_id: str) -> bool:
        """A session made with an API key lasts only while the key is usable and ``admin``."""
        key = await self.rt.store.get_api_key(key_id)
        return key is not None and key.usable(self.rt.clock.now()) and ADMIN in key.scopes

    async def revoke(self, session: Session) -> None:
        """Log ``session`` out everywhere: a copy of its cookie is refused from now on, by every
        process sharing the database, until it would have expired anyway."""
        await self.rt.store.revoke_session(session.nonce, session.issued_at + SESSION_SECONDS, self.rt.clock.now())

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True, samesite="strict")

    def login_token(self, request: Request) -> str:
        """The login form's double-submit token: the browser's own if it has one (so two tabs
        both work), else a new one. Send it back with :meth:`set_login_token`."""
        token = request.cookies.get(self.login_cookie, "")
        return token if len(token) >= 16 else secrets.token_urlsafe(18)

    def set_login_token(self, response: Response, token: str) -> None:
        self._set(response, self.login_cookie, token, LOGIN_COOKIE_SECONDS)

    def clear_login_token(self, response: Response) -> None:
        response.delete_cookie(self.login_cookie, path="/", secure=self.secure, httponly=True, samesite="strict")

    def login_token_ok(self, request: Request, given: str) -> bool:
        expected = request.cookies.get(self.login_cookie, "")
        return len(expected) >= 16 and hmac.compare_digest(expected.encode(), given.encode())

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="strict"
        )


async def read_form(request: Request) -> dict[str, str]:
    """The POSTed urlencoded form (first value of each field), refusing bodies over 64 KiB with a
    413 before reading them whole."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def local_path(raw: object, default: str = "/") -> str:
    """A redirect target on this site only (``/x``, never ``//evil`` or ``https://evil``)."""
    if isinstance(raw, str) and raw.startswith("/") and not raw.startswith(("//", "/\\")) and len(raw) < 2048:
        if all(32 < ord(c) < 127 for c in raw):
            return raw
    return default


View = Callable[[Request, Session], Awaitable[Response]]
Action = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def view(sessions: Sessions, handler: View) -> Endpoint:
    """A page: run ``handler`` with the session, or send the visitor to the login form."""

    async def guarded(request: Request) -> Response:
        session = await sessions.current(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            login = "/dashboard/login" if target == "/" else f"/dashboard/login?next={quote(target, safe='/')}"
            return RedirectResponse(login, status_code=303)
        try:
            return await handler(request, session)
        except InputError as exc:
            return error_page(exc.status, exc.message, csrf=session.csrf)

    guarded.__name__ = handler.__name__
    return guarded


def live(sessions: Sessions, handler: View) -> Endpoint:
    """A JSON endpoint the page's script polls: 401 without a session (the script then reloads,
    which lands on the login form)."""

    async def guarded(request: Request) -> Response:
        session = await sessions.current(request)
        if session is None:
            return error_response(401, "not_logged_in", "the dashboard session expired; log in again")
        return await handler(request, session)

    guarded.__name__ = handler.__name__
    return guarded


def action(sessions: Sessions, handler: Action) -> Endpoint:
    """A state change: a POST with a live session and that session's CSRF token, or a 403 that
    changes nothing."""

    async def guarded(request: Request) -> Response:
        session = await sessions.current(request)
        if session is None:
            return error_page(
                403, "Your dashboard session has expired: log in again.", csrf=None, back="/dashboard/login"
            )
        form = await read_form(request)
        if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            return error_page(
                403,
                "This form is stale (its security token does not match): reload the page and try again.",
                csrf=session.csrf,
            )
        try:
            return await handler(request, session, form)
        except InputError as exc:
            return error_page(exc.status, exc.message, csrf=session.csrf, back=local_path(form.get("next")))

    guarded.__name__ = handler.__name__
    return guarded
