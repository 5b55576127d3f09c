"""The operators' dashboard at ``GET /`` (receiver role): jobs with live progress and result
thumbnails, a job's timeline, subscriptions and their health, deliveries with retry and replay.

Server-rendered HTML with one small script and one stylesheet served from this package: no build
step, nothing fetched from elsewhere, so it works offline. Log in with the admin token; every page
is sent with a strict Content-Security-Policy (``html.CSP``) and escapes everything it shows.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.http import error_response
from hookline.dashboard import jobs, keys, live, login, operations, subsettings
from hookline.dashboard.html import SECURITY_HEADERS
from hookline.dashboard.session import Sessions
from hookline.runtime import Runtime

STATIC_TYPES = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}


def routes(rt: Runtime) -> list[Route]:
    """Every dashboard route: ``/`` and ``/dashboard/...``."""
    sessions = Sessions(rt)
    files = {name: (resources.files(__package__) / "static" / name).read_bytes() for name in STATIC_TYPES}

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return error_response(404, "not_found", f"no dashboard file {name!r}")
        headers = {**SECURITY_HEADERS, "cache-control": "no-cache"}
        return Response(files[name], media_type=STATIC_TYPES[name], headers=headers)

    return [
        *login.routes(sessions),
        *jobs.routes(rt, sessions),
        *operations.routes(rt, sessions),
        *subsettings.routes(rt, sessions),
        *live.routes(rt, sessions),
        *keys.routes(rt, sessions),
        Route("/dashboard/static/{name}", static, methods=["GET"]),
    ]
