"""HTML for the dashboard: escaping by default, and the page layout.

Everything shown comes from outside at some point (raw callback bodies, correlation keys, URLs,
subscriber answers), so values are escaped unless they are :class:`Markup` — HTML this module
built. ``html(template, **values)`` is the only way to put values into markup. URLs for ``href``
and ``src`` go through :func:`safe_url`, which keeps only http(s) and same-origin paths.
No inline script or style anywhere: the Content-Security-Policy forbids them.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from hookline.clock import isoformat

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class Markup(str):
    """A string that is already HTML: inserted as it is. Adding text to it escapes the text."""

    def __add__(self, other: str) -> Markup:
        return Markup(str.__add__(self, escape(other)))


def escape(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(_html.escape(str(value), quote=True))


def html(template: str, **values: Any) -> Markup:
    """``template`` (a ``str.format`` string written in this package) with every value escaped."""
    return Markup(template.format(**{name: escape(value) for name, value in values.items()}))


def join(parts: Iterable[Markup], sep: str = "") -> Markup:
    return Markup(sep.join(escape(part) for part in parts))


def safe_url(url: Any) -> str | None:
    """``url`` if it is an http(s) URL or a path on this site, else None (no javascript:, data:)."""
    if not isinstance(url, str):
        return None
    if url.startswith("/") and not url.startswith("//"):
        return url
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def query(path: str, **params: Any) -> str:
    """``path?a=b`` without the parameters that are None or empty."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def when_text(ts: float | None) -> str:
    """``2026-11-21 10:44:00 UTC`` (— for None)."""
    iso = isoformat(ts)
    return "—" if iso is None else iso.replace("T", " ")[:19] + " UTC"


def when(ts: float | None) -> Markup:
    """A time as a <time> element, shown in UTC to the second."""
    if ts is None:
        return Markup('<span class="muted">—</span>')
    return html('<time datetime="{iso}">{text}</time>', iso=isoformat(ts), text=when_text(ts))


def badge(status: str) -> Markup:
    return html('<span class="badge badge-{s}" data-field="status">{s}</span>', s=status)


def progress_bar(progress: int | None, status: str) -> Markup:
    value = 100 if status == "succeeded" else (progress or 0)
    label = "—" if progress is None and status != "succeeded" else f"{value}%"
    return html(
        '<span class="progress"><progress max="100" value="{v}" data-field="progress"></progress>'
        ' <span data-field="progress-label">{label}</span></span>',
        v=value,
        label=label,
    )


def hidden(name: str, value: str) -> Markup:
    return html('<input type="hidden" name="{n}" value="{v}">', n=name, v=value)


def button_form(action: str, label: str, csrf: str, *, next_url: str, confirm: str | None = None) -> Markup:
    """A one-button POST form (every state change is a POST carrying the session's CSRF token);
    with ``confirm``, the script asks before sending it."""
    return html(
        '<form method="post" action="{a}" class="inline"{confirm}>{csrf}{next}<button>{label}</button></form>',
        a=action,
        confirm=html(' data-confirm="{c}"', c=confirm) if confirm else "",
        csrf=hidden("csrf", csrf),
        next=hidden("next", next_url),
        label=label,
    )


NOTICES = {
    "retried": "Retry queued: the delivery is due now.",
    "enabled": "Subscription enabled: its waiting deliveries resume.",
    "disabled": "Subscription disabled: its deliveries wait until it is enabled again.",
    "replayed": "Replay queued.",
    "saved": "Subscription settings saved.",
    "revoked": "API key revoked: it is refused from now on.",
    "paused": "Subscription paused: its deliveries are queued but held until it is resumed.",
    "resumed": "Subscription resumed: its held deliveries go out, each job's in order.",
    "retried-dead": "Retry of every dead delivery queued.",
    "erased": "Job erased with its callbacks, events, deliveries, attempts and archived images.",
}


def notice(request: Request) -> str | None:
    """The fixed message for ``?done=`` (never text from the query string itself)."""
    message = NOTICES.get(request.query_params.get("done", ""))
    count = request.query_params.get("count", "")
    if message and count.isascii() and count.isdigit():
        message = f"{message} {count} deliveries queued."
    return message


NAV = (
    ("Jobs", "/"),
    ("Subscriptions", "/dashboard/subscriptions"),
    ("Deliveries", "/dashboard/deliveries"),
    ("API keys", "/dashboard/keys"),
)


def page(
    title: str,
    body: Markup,
    *,
    csrf: str | None = None,
    active: str = "",
    status_code: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    """A whole page. ``csrf`` None: the visitor is not logged in (no navigation, no logout)."""
    nav = Markup("")
    if csrf is not None:
        links = join(
            html('<a href="{href}" class="{cls}">{label}</a>', href=href, label=label, cls="active" * (label == active))
            for label, href in NAV
        )
        logout = html(
            '<form method="post" action="/dashboard/logout" class="inline logout">{c}'
            '<button class="link">Log out</button></form>',
            c=hidden("csrf", csrf),
        )
        nav = html('<nav><a href="/" class="brand">hookline</a>{links}{logout}</nav>', links=links, logout=logout)
    flash = html('<p class="notice" role="status">{n}</p>', n=notice) if notice else Markup("")
    document = html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} · hookline</title>"
        '<link rel="stylesheet" href="/dashboard/static/dashboard.css">'
        '<script src="/dashboard/static/dashboard.js" defer></script>'
        "</head><body><header>{nav}</header><main>{flash}{body}</main></body></html>",
        title=title,
        nav=nav,
        flash=flash,
        body=body,
    )
    return HTMLResponse(document, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(status: int, message: str, *, csrf: str | None, back: str = "/") -> HTMLResponse:
    body = html(
        '<h1>Something is wrong</h1><p class="error" role="alert">{m}</p><p><a href="{b}">Back</a></p>',
        m=message,
        b=back,
    )
    return page("Error", body, csrf=csrf, status_code=status)
