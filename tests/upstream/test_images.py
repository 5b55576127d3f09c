"""Images from outside: data URIs, type sniffing, and downloads through the egress guard."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookline.egress import EgressGuard
from simulator import png
from tests.support import run_server
from upstream.images import ImageError, ImageFetcher, parse_data_uri, sniff

PNG = png.render(8, 8, "x")
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 16
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 8
GIF = b"GIF89a" + b"\0" * 8


def test_sniff_knows_the_four_image_types() -> None:
    assert [sniff(b) for b in (PNG, JPEG, WEBP, GIF, b"<html>")] == [
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        None,
    ]


def test_a_data_uri_is_typed_by_its_bytes_not_its_label() -> None:
    image = parse_data_uri("data:image/png;base64," + base64.b64encode(JPEG).decode(), 1024)
    assert image.content_type == "image/jpeg" and image.data == JPEG
    assert image.data_uri() == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    spaced = "data:image/gif;name=a.gif;base64," + " ".join(base64.b64encode(GIF).decode())
    assert parse_data_uri(spaced, 1024).data == GIF


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("data:text/plain;base64,aGk=", "is not a data URI of the form"),
        ("data:image/svg+xml;base64,PHN2Zz4=", "has type image/svg+xml"),
        ("data:image/png,raw", "is not a data URI of the form"),
        ("data:image/png;base64,***", "is not valid base64"),
        ("data:image/png;base64," + base64.b64encode(PNG * 40).decode(), "is larger than 1024 bytes"),
    ],
)
def test_bad_data_uris_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(ImageError) as caught:
        parse_data_uri(uri, 1024)
    assert message in caught.value.message and caught.value.permanent


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "loop":
            return RedirectResponse("/loop", status_code=302)
        if name == "to-ftp":
            return RedirectResponse("ftp://example.com/a.png", status_code=302)
        if name == "busy":
            return Response(b"", status_code=503)
        if name == "gone":
            return Response(b"", status_code=410)
        return Response(PNG, media_type="image/png; charset=binary")

    async with run_server(Starlette(routes=[Route("/{name}", serve)]), lifespan="off") as url:
        yield url


@pytest.mark.parametrize(
    ("name", "message", "permanent"),
    [
        ("loop", "more than 3 redirects", True),
        ("to-ftp", "only http:// and https://", True),
        ("busy", "HTTP 503", False),
        ("gone", "HTTP 410", True),
    ],
)
async def test_downloads_that_fail_say_whether_trying_again_may_help(
    server: str, name: str, message: str, permanent: bool
) -> None:
    async with ImageFetcher(EgressGuard(allow_private=True)) as fetcher:
        with pytest.raises(ImageError) as caught:
            await fetcher.fetch(f"{server}/{name}", 1 << 20)
    assert message in caught.value.message and caught.value.permanent is permanent


async def test_a_download_keeps_the_bytes_and_the_sniffed_type(server: str) -> None:
    async with ImageFetcher(EgressGuard(allow_private=True)) as fetcher:
        image = await fetcher.fetch(f"{server}/ok.png", 1 << 20)
    assert image.data == PNG and image.content_type == "image/png"


async def test_the_egress_guard_refuses_private_addresses_for_good(server: str) -> None:
    async with ImageFetcher(EgressGuard(allow_private=False)) as fetcher:
        with pytest.raises(ImageError) as caught:
            await fetcher.fetch(f"{server}/ok.png", 1 << 20)
    assert "refused by the egress guard" in caught.value.message and caught.value.permanent


@pytest.mark.parametrize("host", ["127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433"])
async def test_a_numeric_host_in_shorthand_is_refused_for_good_even_with_private_targets_allowed(host: str) -> None:
    async with ImageFetcher(EgressGuard(allow_private=True)) as fetcher:
        with pytest.raises(ImageError) as caught:
            await fetcher.fetch(f"http://{host}/x.png", 1 << 20)
    assert caught.value.message.startswith("refused by the egress guard") and caught.value.permanent


async def test_a_redirect_to_a_refused_address_is_refused_for_good(server: str) -> None:
    async def to_metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

    async with run_server(Starlette(routes=[Route("/x.png", to_metadata)]), lifespan="off") as url:
        async with ImageFetcher(EgressGuard(allow_private=True)) as fetcher:
            with pytest.raises(ImageError) as caught:
                await fetcher.fetch(f"{url}/x.png", 1 << 20)
    assert "cloud metadata endpoint" in caught.value.message and caught.value.permanent


async def test_a_name_that_does_not_resolve_may_resolve_later() -> None:
    async with ImageFetcher(EgressGuard(allow_private=False)) as fetcher:
        with pytest.raises(ImageError) as caught:
            await fetcher.fetch("http://nowhere.invalid/x.png", 1 << 20)
    assert not caught.value.permanent and "refused" not in caught.value.message
