"""A small client for the management API of a running hookline, used by the CLI commands.

Every failure becomes a :class:`ClientError` whose message says what to do next and whose
``exit_code`` the CLI exits with:

    1  the API refused the request (bad input, unknown id, conflict) or failed
    3  the server cannot be reached
    4  the admin token is missing or wrong
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from hookline import __version__
from hookline.errors import HooklineError

DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_API = 1
EXIT_UNREACHABLE = 3
EXIT_UNAUTHORIZED = 4
TOKEN_HELP = "set HOOKLINE_ADMIN_TOKEN or pass --token ('hookline info' prints it)"


class ClientError(HooklineError):
    def __init__(self, message: str, exit_code: int = EXIT_API, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


class Client:
    """Calls ``url`` with ``Authorization: Bearer <token>``; answers are parsed JSON."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"user-agent": f"hookline-cli/{__version__}", "accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.has_token = bool(token)
        self.uses_key = bool(token and token.startswith("hlk_"))
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request; return the JSON answer (None for 204). Raises ClientError."""
        if not self.has_token:
            raise ClientError(f"no admin token: {TOKEN_HELP}", EXIT_UNAUTHORIZED)
        kept = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=kept)
        except httpx.TimeoutException:
            raise ClientError(
                f"hookline at {self.url} did not answer in time; is it overloaded or stuck?", EXIT_UNREACHABLE
            ) from None
        except httpx.TransportError as exc:
            raise ClientError(
                f"cannot reach hookline at {self.url} ({exc}). Is it running ('hookline serve')? "
                "Point --url or HOOKLINE_URL at it.",
                EXIT_UNREACHABLE,
            ) from None
        if response.status_code == 204:
            return None
        body = _json(response)
        error = body.get("error") if isinstance(body, dict) and response.status_code >= 400 else None
        message = error.get("message") if isinstance(error, dict) else None
        if response.status_code == 401:
            if self.uses_key:  # hlk_...: say why (revoked, expired, unknown)
                raise ClientError(f"the API key was refused ({message}): {TOKEN_HELP}", EXIT_UNAUTHORIZED, status=401)
            raise ClientError(f"the admin token was refused: {TOKEN_HELP}", EXIT_UNAUTHORIZED, status=401)
        if response.status_code >= 400:
            if message is None:
                message = f"hookline answered {response.status_code} {response.reason_phrase}"
                if response.status_code == 404:
                    message += f" for {path}: is {self.url} a hookline server (receiver role)?"
            raise ClientError(str(message), status=response.status_code)
        return body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def pages(self, path: str, *, limit: int | None = None, page_size: int = 100, **params: Any) -> Iterator[Any]:
        """Every item of a list, following ``next_cursor``; at most ``limit`` items."""
        cursor = None
        seen = 0
        while True:
            size = page_size if limit is None else max(1, min(page_size, limit - seen))
            page = self.get(path, limit=size, cursor=cursor, **params)
            for item in page["items"]:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
