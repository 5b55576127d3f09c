"""A blend request: validating ``POST /v1/blend`` as the upstream APIs would, before anything is
sent, and preparing the images each provider takes.

The rules are the upstreams' own (PROVIDERS.md): 2 to 5 images; ``dimensions`` portrait, square or
landscape (mjproxy ``PORTRAIT|SQUARE|LANDSCAPE``, useapi ``Portrait|Square|Landscape``);
``bot_type`` mid_journey or niji_journey, for the midjourney-proxy family only (``botType``;
useapi.net's blend has no such parameter — the bot is whichever the configured channel talks to —
so it is refused rather than silently dropped); useapi's ``replyRef`` and ``replyUrl`` at most 1024
characters. midjourney-proxy takes images as ``base64Array`` data URIs, so URL images are fetched
(through the egress guard, capped) and encoded; useapi.net fetches ``blendUrls`` itself, so it
takes URLs only. Every failure is an :class:`~hookline.errors.InputError` naming the field.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hookline.api import fields
from hookline.config import Config
from hookline.errors import InputError
from hookline.models import PROVIDERS
from upstream.images import ImageError, ImageFetcher, is_data_uri, parse_data_uri

FIELDS = ("provider", "images", "dimensions", "bot_type", "correlation_key", "metadata", "callback_url")
DIMENSIONS = {
    "mjproxy": {"portrait": "PORTRAIT", "square": "SQUARE", "landscape": "LANDSCAPE"},
    "useapi": {"portrait": "Portrait", "square": "Square", "landscape": "Landscape"},
}
BOT_TYPES = {"mid_journey": "MID_JOURNEY", "niji_journey": "NIJI_JOURNEY"}
MIN_IMAGES, MAX_IMAGES = 2, 5
MAX_REPLY = 1024  # useapi: replyRef and replyUrl (413 "replyRef or replyUrl is too long")
SETTING = {"mjproxy": "HOOKLINE_MJPROXY_URL", "useapi": "HOOKLINE_USEAPI_TOKEN"}


def _invalid(message: str) -> InputError:
    return InputError(message, code="invalid_field")


@dataclass(slots=True)
class BlendRequest:
    """A validated ``POST /v1/blend``. ``dimensions``/``bot_type`` are hookline's lower-case names."""

    provider: str
    images: list[str]
    dimensions: str | None = None
    bot_type: str | None = None
    correlation_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None


def parse(doc: dict[str, Any], config: Config, callback_urls: dict[str, str]) -> BlendRequest:
    """Validate a request body. ``callback_urls`` are the URLs hookline will give each upstream
    (useapi's ``replyUrl`` must fit in 1024 characters)."""
    fields.only(doc, FIELDS)
    provider = fields.choice(doc, "provider", PROVIDERS, required=True)
    assert provider is not None
    if provider not in config.upstream.providers:
        raise InputError(
            f"provider {provider} is not configured on this hookline: set {SETTING[provider]} to submit to it",
            code="provider_not_configured",
        )
    images = _images(doc, provider)
    dimensions = fields.choice(doc, "dimensions", DIMENSIONS[provider])
    bot_type = fields.choice(doc, "bot_type", BOT_TYPES)
    if bot_type is not None and provider == "useapi":
        raise _invalid(
            "bot_type applies to the midjourney-proxy family only: useapi.net's blend has no bot parameter "
            "(the bot is the one in HOOKLINE_USEAPI_CHANNEL); leave bot_type out"
        )
    if provider == "useapi" and len(callback_urls[provider]) > MAX_REPLY:
        raise InputError(
            f"replyUrl (hookline's callback URL, built from HOOKLINE_PUBLIC_URL) is "
            f"{len(callback_urls[provider])} characters; useapi.net takes at most {MAX_REPLY}",
            code="invalid_field",
            status=422,
        )
    correlation_key = fields.text(doc, "correlation_key", max_length=MAX_REPLY)
    if correlation_key is not None and not correlation_key.strip():
        raise _invalid("correlation_key must not be empty (leave it out to use the job id)")
    return BlendRequest(
        provider=provider,
        images=images,
        dimensions=dimensions,
        bot_type=bot_type,
        correlation_key=correlation_key,
        metadata=fields.json_object(doc, "metadata") or {},
        callback_url=fields.http_url(doc, "callback_url"),
    )


def _images(doc: dict[str, Any], provider: str) -> list[str]:
    images = doc.get("images")
    if images is None:
        raise _invalid(f"images is required: a list of {MIN_IMAGES} to {MAX_IMAGES} image URLs or data URIs")
    if not isinstance(images, list) or not MIN_IMAGES <= len(images) <= MAX_IMAGES:
        raise _invalid(f"images must be a list of {MIN_IMAGES} to {MAX_IMAGES} image URLs or data URIs")
    for i, image in enumerate(images):
        name = f"images[{i}]"
        if not isinstance(image, str):
            raise _invalid(f"{name} must be a string: an http(s) URL or a data URI")
        if is_data_uri(image):
            if provider == "useapi":
                raise _invalid(
                    f"{name} is a data URI, but useapi.net fetches blend images itself and takes URLs only "
                    "(data URIs work with provider mjproxy)"
                )
            continue
        fields.http_url({name: image}, name, required=True)
    return list(images)


async def prepare(blend: BlendRequest, fetcher: ImageFetcher | None, max_bytes: int) -> dict[str, Any]:
    """The request to keep in the submit queue: images as the provider takes them (mjproxy: data
    URIs, fetching URL images now with ``fetcher``; useapi: the URLs), the dimensions and bot type.
    Raises InputError naming ``images[i]`` when an image cannot be read or fetched."""
    images = blend.images
    if blend.provider == "mjproxy":
        if fetcher is None:
            raise ValueError("mjproxy blends need an ImageFetcher")
        images = list(
            await asyncio.gather(*(_data_uri(fetcher, i, image, max_bytes) for i, image in enumerate(images)))
        )
    return {"images": images, "dimensions": blend.dimensions, "bot_type": blend.bot_type}


async def _data_uri(fetcher: ImageFetcher, index: int, image: str, max_bytes: int) -> str:
    name = f"images[{index}]"
    if is_data_uri(image):
        try:
            return parse_data_uri(image, max_bytes).data_uri()
        except ImageError as exc:
            raise _invalid(f"{name} {exc.message}") from None
    try:
        fetched = await fetcher.fetch(image, max_bytes)
    except ImageError as exc:
        raise InputError(f"{name} could not be fetched: {exc.message}", code="image_unavailable", status=422) from None
    return fetched.data_uri()
