"""The dashboard's page for one subscription's own settings (issue 15): its headers, rate limit,
retry schedule and status / min_progress filters, shown and edited in one form.

The form posts to ``/dashboard/subscriptions/{id}/settings`` (CSRF-checked like every action);
its values go through the same checks as the management API (``hookline.api.subsettings``), so a
bad value is the same message on an error page, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookline.api import subsettings
from hookline.api.http import path_id
from hookline.changes import SubscriptionChanges
from hookline.dashboard.html import Markup, hidden, html, join, notice, page
from hookline.dashboard.session import Session, Sessions, action, view
from hookline.errors import InputError, NotFound
from hookline.models import STATUSES, Subscription
from hookline.runtime import Runtime


def settings_summary(sub: Subscription) -> Markup:
    """One line for the subscriptions table: what is set, and a link to change it."""
    parts = []
    if sub.headers:
        parts.append(f"{len(sub.headers)} header{'s' * (len(sub.headers) != 1)}")
    if sub.rate_limit is not None:
        parts.append(f"≤ {sub.rate_limit}/s")
    if sub.retry_schedule is not None:
        parts.append("own retry schedule")
    return html(
        '<div class="muted">{p} <a href="/dashboard/subscriptions/{id}">settings</a></div>',
        p=" · ".join(parts),
        id=sub.id,
    )


def _form(sub: Subscription, csrf: str) -> Markup:
    statuses = sub.filter.get("status") or []
    boxes = join(
        html(
            '<label class="inline"><input type="checkbox" name="status_{s}" value="1"{c}> {s}</label> ',
            s=status,
            c=Markup(" checked") if status in statuses else "",
        )
        for status in STATUSES
    )
    schedule = sub.retry_schedule
    min_progress = sub.filter.get("min_progress")
    return html(
        '<form method="post" action="/dashboard/subscriptions/{id}/settings" class="settings">{c}{n}'
        '<p><label>Headers, one <code>Name: value</code> a line<br><textarea name="headers" rows="4" cols="60">'
        "{headers}</textarea></label></p>"
        '<p><label>Rate limit (requests a second, empty: none) <input name="rate_limit" value="{rate}" size="6">'
        "</label></p>"
        "<p><label>Retry schedule (seconds, e.g. 5, 300, 1800; empty: the global one; none: no retries) "
        '<input name="retry_schedule" value="{schedule}" size="30"></label></p>'
        "<fieldset><legend>Only events reporting these job statuses (none ticked: every status)</legend>{boxes}"
        "</fieldset>"
        '<p><label>Minimum progress (0 to 100, empty: any) <input name="min_progress" value="{least}" size="4">'
        "</label></p><p><button>Save</button></p></form>",
        id=sub.id,
        c=hidden("csrf", csrf),
        n=hidden("next", f"/dashboard/subscriptions/{sub.id}"),
        headers="\n".join(f"{k}: {v}" for k, v in sub.headers.items()),
        rate="" if sub.rate_limit is None else sub.rate_limit,
        schedule="" if schedule is None else ("none" if not schedule else ", ".join(f"{s:g}" for s in schedule)),
        boxes=boxes,
        least="" if min_progress is None else min_progress,
    )


def parse_form(form: dict[str, str], sub: Subscription) -> SubscriptionChanges:
    """The form as a PATCH of headers, rate_limit, retry_schedule and filter (its other keys kept)."""
    doc: dict[str, Any] = {"headers": {}}
    for number, line in enumerate(form.get("headers", "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise InputError(f"headers, line {number}: expected 'Name: value'", code="invalid_field")
        doc["headers"][name.strip()] = value.strip()
    doc["rate_limit"] = _number(form.get("rate_limit", ""), "rate_limit")
    raw_schedule = form.get("retry_schedule", "").strip()
    if raw_schedule.lower() == "none":
        doc["retry_schedule"] = []
    elif raw_schedule:
        doc["retry_schedule"] = [_number(part, "retry_schedule", real=True) for part in raw_schedule.split(",")]
    flt = {k: v for k, v in sub.filter.items() if k not in ("status", "min_progress")}
    ticked = [status for status in STATUSES if form.get(f"status_{status}")]
    if ticked:
        flt["status"] = ticked
    least = _number(form.get("min_progress", ""), "filter.min_progress")
    if least is not None:
        flt["min_progress"] = least
    subsettings.state_filter(flt)
    return SubscriptionChanges(
        headers=subsettings.headers(doc),
        rate_limit=subsettings.rate_limit(doc),
        retry_schedule=subsettings.retry_schedule(doc),
        filter=flt,
        set_fields=frozenset({"headers", "rate_limit", "retry_schedule", "filter"}),
    )


def _number(raw: str, name: str, *, real: bool = False) -> Any:
    text = raw.strip()
    if not text:
        return None
    try:
        return float(text) if real else int(text)
    except ValueError:
        kind = "a number" if real else "a whole number"
        raise InputError(f"{name} must be {kind}", code="invalid_field") from None


def routes(rt: Runtime, sessions: Sessions) -> list[Route]:
    store = rt.store

    async def load(request: Request) -> Subscription:
        sub_id = path_id(request, "sub_id", "subscription")
        sub = await store.get_subscription(sub_id)
        if sub is None:
            raise NotFound(f"no subscription {sub_id!r}")
        return sub

    async def show(request: Request, session: Session) -> Response:
        sub = await load(request)
        body = html(
            '<h1>Subscription</h1><p><span class="url">{url}</span> <span class="muted mono">{id}</span> · '
            '<a href="/dashboard/subscriptions#{id}">every subscription</a></p><h2>Settings</h2>{form}',
            url=sub.url,
            id=sub.id,
            form=_form(sub, session.csrf),
        )
        return page("Subscription", body, csrf=session.csrf, active="Subscriptions", notice=notice(request))

    async def save(request: Request, session: Session, form: dict[str, str]) -> Response:
        sub = await load(request)
        await store.update_subscription(sub.id, parse_form(form, sub), rt.clock.now())
        return RedirectResponse(f"/dashboard/subscriptions/{sub.id}?done=saved", status_code=303)

    return [
        Route("/dashboard/subscriptions/{sub_id}", view(sessions, show), methods=["GET"]),
        Route("/dashboard/subscriptions/{sub_id}/settings", action(sessions, save), methods=["POST"]),
    ]
