"""Images from outside: downloading them safely, and reading data URIs.

Every URL of an input image (``POST /v1/blend`` for mjproxy) or of a result image (the archive)
comes from outside, so it is fetched only with ``hookline.egress.client_session`` (every connection
checked by the egress guard, after DNS, through the egress proxy when one is set), on every
redirect hop (followed by hand, at most three). A URL the guard refuses is a permanent failure:
asking again later gets the same answer. The body is capped, and
kept only when the server calls it an image *and* its first bytes are one (PNG, JPEG, WebP, GIF).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp

from hookline import egress
from hookline.egress import EgressGuard, Unresolvable
from hookline.errors import EgressRefused, HooklineError

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
MAX_REDIRECTS = 3
_DATA_URI = re.compile(
    r"^data:(image/[a-z0-9.+-]+)(?:;[a-z0-9-]+=[a-z0-9.-]+)*;base64,(.*)$", re.IGNORECASE | re.DOTALL
)


class ImageError(HooklineError):
    """An image could not be used. ``permanent`` is False when trying again later may help
    (a network error, a 5xx, a 404 that a CDN may still fill, a 429)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Image:
    content_type: str
    data: bytes

    def data_uri(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode()}"


def sniff(data: bytes) -> str | None:
    """The image type the bytes start with, or None when they are not a PNG, JPEG, WebP or GIF."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def parse_data_uri(value: str, max_bytes: int) -> Image:
    """Decode ``data:image/...;base64,...``; raise ImageError (permanent) saying what is wrong."""
    match = _DATA_URI.match(value)
    if match is None:
        raise ImageError("is not a data URI of the form data:image/png;base64,...", permanent=True)
    declared = match.group(1).lower()
    if declared not in IMAGE_TYPES:
        raise ImageError(f"has type {declared}; expected one of {', '.join(IMAGE_TYPES)}", permanent=True)
    encoded = "".join(match.group(2).split())
    if len(encoded) * 3 // 4 > max_bytes + 3:
        raise ImageError(f"is larger than {max_bytes} bytes", permanent=True)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("is not valid base64", permanent=True) from None
    if len(data) > max_bytes:
        raise ImageError(f"is larger than {max_bytes} bytes", permanent=True)
    actual = sniff(data)
    if actual is None:
        raise ImageError("does not hold a PNG, JPEG, WebP or GIF image", permanent=True)
    return Image(actual, data)


class ImageFetcher:
    """Downloads images through the egress guard. Use ``async with`` (it owns a session)."""

    def __init__(self, guard: EgressGuard, *, timeout: float = 30.0) -> None:
        self.guard = guard
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ImageFetcher:
        self._session = egress.client_session(self.guard, timeout=self._timeout, limit=32)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, max_bytes: int) -> Image:
        """The image at ``url`` (at most ``max_bytes``); raise ImageError saying why not."""
        assert self._session is not None, "use ImageFetcher in 'async with'"
        for _ in range(MAX_REDIRECTS + 1):
            if urlsplit(url).scheme not in ("http", "https"):
                raise ImageError("only http:// and https:// images can be fetched", permanent=True)
            try:
                async with self._session.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    return await self._read(response, max_bytes)
            except Unresolvable as exc:
                raise ImageError(str(exc), permanent=False) from None
            except EgressRefused as exc:
                raise ImageError(f"refused by the egress guard: {exc}", permanent=True) from None
            except aiohttp.ClientConnectorError as exc:
                raise ImageError(f"cannot connect: {exc.os_error}", permanent=False) from None
            except TimeoutError:
                raise ImageError("timed out", permanent=False) from None
            except aiohttp.ClientError as exc:
                raise ImageError(f"{type(exc).__name__}: {exc}", permanent=False) from None
        raise ImageError(f"more than {MAX_REDIRECTS} redirects", permanent=True)

    async def _read(self, response: aiohttp.ClientResponse, max_bytes: int) -> Image:
        if response.status != 200:
            # 4xx but 404/408/429 will not change; 404 may be a CDN that is still filling.
            permanent = 400 <= response.status < 500 and response.status not in (404, 408, 429)
            raise ImageError(f"HTTP {response.status}", permanent=permanent)
        declared = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if declared not in IMAGE_TYPES:
            raise ImageError(
                f"content type {declared or 'missing'!s} is not an image ({', '.join(IMAGE_TYPES)})", permanent=True
            )
        if response.content_length is not None and response.content_length > max_bytes:
            raise ImageError(f"is larger than {max_bytes} bytes ({response.content_length})", permanent=True)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise ImageError(f"is larger than {max_bytes} bytes", permanent=True)
            chunks.append(chunk)
        data = b"".join(chunks)
        actual = sniff(data)
        if actual is None:
            raise ImageError(f"is served as {declared} but is not a PNG, JPEG, WebP or GIF image", permanent=True)
        return Image(actual, data)
