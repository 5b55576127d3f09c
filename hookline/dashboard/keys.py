"""``/dashboard/keys``: API keys for operators (the dashboard is admin only: a session is made with
the admin token). Lists the keys (never the keys themselves), makes one — the answer page shows
the key this once, since only its hash is kept — and revokes one. Both changes are CSRF-checked
POSTs (``session.action``) calling the same store methods as ``/v1/api-keys``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookline.api.apikeys import checked_scopes, make_key
from hookline.api.auth import SCOPES
from hookline.api.http import parse_time, path_id
from hookline.apikeys import ApiKey
from hookline.dashboard.html import Markup, button_form, hidden, html, join, notice, page, when
from hookline.dashboard.session import Session, Sessions, action, view
from hookline.errors import InputError
from hookline.runtime import Runtime

HERE = "/dashboard/keys"


def _row(key: ApiKey, csrf: str, now: float) -> Markup:
    expired = key.expires_at is not None and key.expires_at <= now
    return html(
        '<tr id="{id}" data-key="{id}"><td><div>{name}</div><div class="muted mono">{id}</div></td>'
        '<td data-label="Scopes" class="mono">{scopes}</td><td data-label="Starts" class="mono">{prefix}…</td>'
        '<td data-label="Created">{created}</td><td data-label="Expires">{expires}{expired}</td><td>{revoke}</td></tr>',
        id=key.id,
        name=key.name,
        scopes=" ".join(key.scopes),
        prefix=key.prefix,
        created=when(key.created_at),
        expires=when(key.expires_at),
        expired=Markup(' <span class="badge badge-dead">expired</span>') if expired else "",
        revoke=button_form(
            f"{HERE}/{key.id}/revoke", "Revoke", csrf, next_url=HERE, confirm=f"Revoke the key {key.name}?"
        ),
    )


def _create_form(csrf: str) -> Markup:
    boxes = join(
        html(
            '<label class="scope"><input type="checkbox" name="scope:{s}" value="on"> <code>{s}</code> '
            '<span class="muted">{d}</span></label>',
            s=scope,
            d=description,
        )
        for scope, description in SCOPES.items()
    )
    return html(
        '<h2>New key</h2><form method="post" action="{here}" class="new-key">{c}'
        '<label>Name <input name="name" required maxlength="200"></label><fieldset><legend>Scopes</legend>{boxes}'
        '</fieldset><label>Expires (optional, UTC) <input name="expires_at" placeholder="2027-01-01T00:00:00Z">'
        "</label><button>Make the key</button></form>",
        here=HERE,
        c=hidden("csrf", csrf),
        boxes=boxes,
    )


def routes(rt: Runtime, sessions: Sessions) -> list[Route]:
    store = rt.store

    async def keys(request: Request, session: Session) -> Response:
        now = rt.clock.now()
        rows = join(_row(k, session.csrf, now) for k in await store.list_api_keys())
        body = html(
            '<h1>API keys</h1><table class="keys stack"><thead><tr><th>Name</th><th>Scopes</th><th>Key starts</th>'
            "<th>Created</th><th>Expires</th><th></th></tr></thead><tbody>{rows}</tbody></table>{form}"
            '<p class="muted">Or <code>hookline keys add NAME --scope SCOPE</code>; a key is sent as '
            "<code>Authorization: Bearer hlk_…</code>.</p>",
            rows=rows or Markup('<tr><td colspan="6" class="muted">No API keys yet.</td></tr>'),
            form=_create_form(session.csrf),
        )
        return page("API keys", body, csrf=session.csrf, active="API keys", notice=notice(request))

    async def create(request: Request, session: Session, form: dict[str, str]) -> Response:
        name = form.get("name", "").strip()
        if not name or len(name) > 200 or "\x00" in name:
            raise InputError("give the key a name (at most 200 characters)")
        scopes = checked_scopes([scope for scope in SCOPES if form.get(f"scope:{scope}") == "on"])
        now = rt.clock.now()
        expires_at = None
        if form.get("expires_at", "").strip():
            expires_at = parse_time(form["expires_at"].strip(), "expires_at")
            if expires_at <= now:
                raise InputError("expires_at must be in the future")
        record, key = make_key(name, scopes, expires_at, now)
        await store.create_api_key(record)
        # Shown here, once: the page is not cached (no-store) and the key is never stored.
        body = html(
            "<h1>Key made</h1><p>The key for <strong>{name}</strong> (<code>{scopes}</code>):</p>"
            '<p><input class="mono secret" readonly size="60" value="{key}" data-key-value></p>'
            '<p class="notice" role="status">Copy it now: it is shown this once (hookline keeps only its hash).</p>'
            '<p><a href="{here}">Back to the API keys</a></p>',
            name=record.name,
            scopes=" ".join(record.scopes),
            key=key,
            here=HERE,
        )
        return page("Key made", body, csrf=session.csrf, active="API keys")

    async def revoke(request: Request, session: Session, form: dict[str, str]) -> Response:
        await store.revoke_api_key(path_id(request, "key_id", "API key"), rt.clock.now())
        return RedirectResponse(f"{HERE}?done=revoked", status_code=303)

    return [
        Route(HERE, view(sessions, keys), methods=["GET"]),
        Route(HERE, action(sessions, create), methods=["POST"]),
        Route(HERE + "/{key_id}/revoke", action(sessions, revoke), methods=["POST"]),
    ]
