"""``GET /v1/archive/{sha256}``: an archived result image.

No admin token: the archive URLs go to subscribers in ``job.archived`` events, and subscribers do
not hold the admin token. The name is the SHA-256 of the content, which cannot be guessed without
having the image already, so knowing the URL is the permission to read it — the same model as the
upstreams' own CDN links, minus the expiry. Files never change, so they are served as immutable;
``nosniff`` and a locked-down CSP make sure bytes from outside are only ever treated as an image.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from hookline.api.auth import public
from hookline.api.http import error_response
from hookline.runtime import Runtime
from upstream.archive import Archive, is_sha256

HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def routes(rt: Runtime) -> list[Route]:
    archive = Archive(rt.config.archive_dir)

    async def show(request: Request) -> Response:
        sha256 = request.path_params["sha256"]
        if not is_sha256(sha256):
            return error_response(
                404, "not_found", "an archive URL ends in the image's SHA-256: 64 lower-case hex digits"
            )
        content_type = archive.content_type(sha256)
        if content_type is None:
            return error_response(404, "not_found", f"no archived image {sha256}")
        headers = {**HEADERS, "ETag": f'"{sha256}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return FileResponse(archive.path(sha256), media_type=content_type, headers=headers)

    return [Route("/v1/archive/{sha256}", public(show), methods=["GET", "HEAD"])]
