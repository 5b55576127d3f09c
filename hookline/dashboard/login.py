"""``/dashboard/login`` and ``/dashboard/logout``: the admin token in, a session cookie out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookline.dashboard.html import html, page
from hookline.dashboard.session import Session, Sessions, action, local_path, read_form

LOGIN_FORM = """<section class="login"><h1>hookline</h1>
<p>Log in with the admin token (<code>hookline info</code> prints it) or an API key with the admin scope.</p>
<form method="post" action="/dashboard/login">
<input type="hidden" name="login_token" value="{login_token}"><input type="hidden" name="next" value="{next}">
<label for="token">Admin token or key</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button></form>{problem}</section>"""


def routes(sessions: Sessions) -> list[Route]:
    def form(request: Request, next_url: str, problem: str | None = None, status: int = 200) -> Response:
        token = sessions.login_token(request)
        body = html(
            LOGIN_FORM,
            login_token=token,
            next=next_url,
            problem=html('<p class="error" role="alert">{p}</p>', p=problem) if problem else "",
        )
        response = page("Log in", body, status_code=status)
        sessions.set_login_token(response, token)
        return response

    async def show(request: Request) -> Response:
        next_url = local_path(request.query_params.get("next"))
        if await sessions.current(request) is not None:
            return RedirectResponse(next_url, status_code=303)
        return form(request, next_url)

    async def login(request: Request) -> Response:
        fields = await read_form(request)
        next_url = local_path(fields.get("next"))
        if not sessions.login_token_ok(request, fields.get("login_token", "")):
            return form(request, next_url, "The login form expired. Try again.", status=403)
        credential = await sessions.admin_credential(fields.get("token", "").strip())
        if credential is None:
            problem = "That is not the admin token ('hookline info' prints it) nor an API key with the admin scope."
            return form(request, next_url, problem, status=401)
        response = RedirectResponse(next_url, status_code=303)
        sessions.issue(response, credential)
        sessions.clear_login_token(response)
        return response

    async def logout(request: Request, session: Session, fields: dict[str, str]) -> Response:
        await sessions.revoke(session)
        response = RedirectResponse("/dashboard/login", status_code=303)
        sessions.clear(response)
        return response

    return [
        Route("/dashboard/login", show, methods=["GET"]),
        Route("/dashboard/login", login, methods=["POST"]),
        Route("/dashboard/logout", action(sessions, logout), methods=["POST"]),
    ]
