"""The admin token guard for the management API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hookline.api.http import Handler, check_bearer
from hookline.runtime import Runtime


def admin(rt: Runtime, handler: Handler) -> Handler:
    """Wrap ``handler`` so it runs only for ``Authorization: Bearer <admin token>``."""

    async def guarded(request: Request) -> Response:
        check_bearer(request, rt.admin_token)
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded
