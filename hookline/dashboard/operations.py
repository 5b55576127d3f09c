"""Dashboard pages for operating delivery: subscriptions with their health (enable, disable,
pause, resume, retry all dead, replay), deliveries by status with retry buttons, and one delivery with its attempts.

Every button is a POST form carrying the session's CSRF token (see ``session.action``); it calls
the same store methods as the management API, then redirects back (POST, redirect, GET) with a
fixed notice, so reloading never repeats an action.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookline.api.http import parse_time, path_id, query_choice, query_cursor, query_text
from hookline.changes import SubscriptionChanges
from hookline.clock import isoformat
from hookline.dashboard import chains
from hookline.dashboard.deliveries import deliveries_table, delivery_row
from hookline.dashboard.html import Markup, button_form, hidden, html, join, notice, page, query, when
from hookline.dashboard.session import Action, Session, Sessions, action, local_path, view
from hookline.dashboard.subsettings import settings_summary
from hookline.errors import InputError, NotFound
from hookline.models import DELIVERY_STATUSES, Subscription
from hookline.queries import BulkRetry, DeliveryQuery, SubscriptionQuery
from hookline.runtime import Runtime

PAGE_SIZE = 50


def _done(next_url: str, done: str, **extra: str) -> Response:
    sep = "&" if "?" in next_url else "?"
    tail = "".join(f"&{k}={v}" for k, v in extra.items())
    return RedirectResponse(f"{next_url}{sep}done={done}{tail}", status_code=303)


def _health(sub: Subscription) -> Markup:
    if not sub.enabled:
        return html(
            '<span class="badge badge-dead">disabled</span> <span class="error">{r}</span>', r=sub.disabled_reason or ""
        )
    paused = Markup(' <span class="badge badge-paused">paused</span>') if sub.paused else Markup("")
    if sub.failing_since is not None:
        # Its own colour: "pending" blue read as "in progress".
        failing = html('<span class="badge badge-failing">failing</span> since {t}', t=when(sub.failing_since))
        return failing + paused
    return Markup('<span class="badge badge-delivered">healthy</span>') + paused


def subscription_row(sub: Subscription, csrf: str, now: float) -> Markup:
    here = "/dashboard/subscriptions"
    toggle = button_form(
        f"/dashboard/subscriptions/{sub.id}/{'disable' if sub.enabled else 'enable'}",
        "Disable" if sub.enabled else "Enable",
        csrf,
        next_url=here,
        confirm=f"Disable deliveries to {sub.url}?" if sub.enabled else None,
    )
    pause = button_form(
        f"/dashboard/subscriptions/{sub.id}/{'resume' if sub.paused else 'pause'}",
        "Resume" if sub.paused else "Pause",
        csrf,
        next_url=here,
    )
    retry_dead = button_form(
        f"/dashboard/subscriptions/{sub.id}/retry-dead",
        "Retry all dead",
        csrf,
        next_url=here,
        confirm=f"Send every dead delivery to {sub.url} again?",
    )
    replay = html(
        '<form method="post" action="/dashboard/subscriptions/{id}/replay" class="inline replay">{c}{n}'
        '<label>since <input name="since" value="{since}" size="22" required></label>'
        "<button>Replay</button></form>",
        id=sub.id,
        c=hidden("csrf", csrf),
        n=hidden("next", here),
        since=(isoformat(now - 3600) or "")[:19] + "Z",
    )
    links = html(
        '<a href="{dead}">dead</a> · <a href="{pending}">pending</a> · <a href="{all}">all</a>',
        dead=query("/dashboard/deliveries", subscription_id=sub.id, status="dead"),
        pending=query("/dashboard/deliveries", subscription_id=sub.id, status="pending"),
        all=query("/dashboard/deliveries", subscription_id=sub.id, status="all"),
    )
    scope = ", ".join(sub.event_types) if sub.event_types else "every event"
    if sub.job_id:
        scope += f" of job {sub.job_id}"
    return html(
        '<tr id="{id}" data-subscription="{id}"><td><div class="url">{url}</div><div class="muted mono">{id}</div>'
        '<div class="muted">{description}</div>{settings}</td><td data-label="Receives">{scope}{filter}</td>'
        '<td data-label="Health">{health}</td><td data-label="Last success">{last_success}</td>'
        '<td data-label="Deliveries">{links}</td><td>{toggle}{pause}{retry_dead}{replay}</td></tr>',
        id=sub.id,
        url=sub.url,
        description=sub.description or "",
        settings=settings_summary(sub),
        scope=scope,
        filter=html('<div class="muted mono">{f}</div>', f=sub.filter) if sub.filter else "",
        health=_health(sub),
        last_success=when(sub.last_success_at),
        links=links,
        toggle=toggle,
        pause=pause if sub.enabled else "",
        retry_dead=retry_dead if sub.enabled else "",
        replay=replay if sub.enabled else "",
    )


def routes(rt: Runtime, sessions: Sessions) -> list[Route]:
    store = rt.store

    async def subscriptions(request: Request, session: Session) -> Response:
        cursor = query_cursor(request, "sub")
        found = await store.list_subscriptions(SubscriptionQuery(limit=PAGE_SIZE, cursor=cursor))
        now = rt.clock.now()
        rows = join(subscription_row(s, session.csrf, now) for s in found.items)
        more = html(
            '<a href="{u}" rel="next">More »</a>', u=query("/dashboard/subscriptions", cursor=found.next_cursor)
        )
        body = html(
            '<h1>Subscriptions</h1><table class="subscriptions stack"><thead><tr><th>Endpoint</th><th>Receives</th>'
            "<th>Health</th><th>Last success</th><th>Deliveries</th><th></th></tr></thead><tbody>{rows}</tbody>"
            '</table><p class="pager">{more}</p><p class="muted">Add subscriptions with '
            "<code>hookline subscriptions add URL</code> or <code>POST /v1/subscriptions</code>.</p>",
            rows=rows or Markup('<tr><td colspan="6" class="muted">No subscriptions yet.</td></tr>'),
            more=more if found.next_cursor else "",
        )
        return page("Subscriptions", body, csrf=session.csrf, active="Subscriptions", notice=notice(request))

    async def deliveries(request: Request, session: Session) -> Response:
        raw_status = request.query_params.get("status")
        status = None if raw_status == "all" else (query_choice(request, "status", DELIVERY_STATUSES) or "dead")
        sub_id = query_text(request, "subscription_id", 64)
        job_id = query_text(request, "job_id", 64)
        cursor = query_cursor(request, "dlv")
        found = await store.list_deliveries(
            DeliveryQuery(status=status, subscription_id=sub_id, job_id=job_id, limit=PAGE_SIZE, cursor=cursor)
        )
        tabs = join(
            html(
                '<a href="{u}" class="{cls}">{label}</a>',
                u=query("/dashboard/deliveries", status=name, subscription_id=sub_id, job_id=job_id),
                cls="active" if (status or "all") == name else "",
                label=name,
            )
            for name in ("dead", "pending", "delivered", "all")
        )
        ctx = await chains.context(store, found.items)
        scoped = await store.get_subscription(sub_id) if sub_id else None
        rows = join(delivery_row(d, ctx, session.csrf, "", job_column=True) for d in found.items)
        more = html(
            '<a href="{u}" rel="next">Older »</a>',
            u=query(
                "/dashboard/deliveries",
                status=status or "all",
                subscription_id=sub_id,
                job_id=job_id,
                cursor=found.next_cursor,
            ),
        )
        job_scope = html(
            '<p>Job <a href="/dashboard/jobs/{j}" class="mono">{j}</a> · <a href="{all}">every job</a></p>',
            j=job_id,
            all=query("/dashboard/deliveries", status=status or "all", subscription_id=sub_id),
        )
        body = html(
            '<h1>Deliveries</h1><p class="tabs">{tabs}</p>{scope}{job_scope}{table}<p class="pager">{more}</p>',
            tabs=tabs,
            scope=html(
                '<p>Subscription <span class="url">{url}</span> <span class="muted mono">{s}</span> · '
                '<a href="{all}">every subscription</a></p>',
                url=scoped.url if scoped is not None else "",
                s=sub_id,
                all=query("/dashboard/deliveries", status=status or "all", job_id=job_id),
            )
            if sub_id
            else "",
            job_scope=job_scope if job_id else "",
            table=deliveries_table(rows, job_column=True),
            more=more if found.next_cursor else "",
        )
        return page("Deliveries", body, csrf=session.csrf, active="Deliveries", notice=notice(request))

    async def delivery_page(request: Request, session: Session) -> Response:
        delivery_id = path_id(request, "delivery_id", "delivery")
        delivery = await store.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        attempts = await store.delivery_attempts(delivery_id)
        here = f"/dashboard/deliveries/{delivery_id}"
        rows = join(
            html(
                '<tr><td>{t}</td><td data-label="Status">{code}</td><td data-label="Latency">{ms} ms</td>'
                '<td class="error">{error}</td><td><pre class="raw">{body}</pre></td></tr>',
                t=when(a.attempted_at),
                code=a.status_code if a.status_code is not None else "no answer",
                ms=round(a.latency_ms),
                error=a.error or "",
                body=a.response_body or "",
            )
            for a in attempts
        )
        body = html(
            '<h1>Delivery <span class="mono">{id}</span></h1><p>{job}</p>'
            '{table}<h2>Attempts</h2><table class="stack"><thead><tr><th>Time</th><th>Status</th><th>Latency</th>'
            "<th>Error</th>"
            "<th>Response</th></tr></thead><tbody>{rows}</tbody></table>",
            id=delivery.id,
            job=html('<a href="/dashboard/jobs/{j}">job {j}</a>', j=delivery.job_id)
            if delivery.event_type.startswith("job.")
            else html("{t}: an operational event, about a subscription", t=delivery.event_type),
            table=deliveries_table(delivery_row(delivery, await chains.context(store, [delivery]), session.csrf, here)),
            rows=rows or Markup('<tr><td colspan="5" class="muted">Not attempted yet.</td></tr>'),
        )
        return page("Delivery", body, csrf=session.csrf, active="Deliveries", notice=notice(request))

    async def retry(request: Request, session: Session, form: dict[str, str]) -> Response:
        delivery = await store.retry_delivery(path_id(request, "delivery_id", "delivery"), rt.clock.now())
        return _done(local_path(form.get("next"), f"/dashboard/deliveries/{delivery.id}"), "retried")

    def set_flag(flag: str, value: bool, name: str) -> Action:
        """The button that sets a subscription's ``flag`` (enabled, paused) to ``value``; ``name``
        is the action and the notice shown after it."""

        async def change(request: Request, session: Session, form: dict[str, str]) -> Response:
            changes = SubscriptionChanges(set_fields=frozenset({flag}))
            setattr(changes, flag, value)
            await store.update_subscription(path_id(request, "sub_id", "subscription"), changes, rt.clock.now())
            return _done(local_path(form.get("next"), "/dashboard/subscriptions"), name)

        change.__name__ = name
        return change

    async def retry_dead(request: Request, session: Session, form: dict[str, str]) -> Response:
        sub_id = path_id(request, "sub_id", "subscription")
        if await store.get_subscription(sub_id) is None:
            raise NotFound(f"no subscription {sub_id!r}")
        count = await store.retry_deliveries(BulkRetry(subscription_id=sub_id), rt.clock.now())
        return _done(local_path(form.get("next"), "/dashboard/subscriptions"), "retried-dead", count=str(count))

    async def replay(request: Request, session: Session, form: dict[str, str]) -> Response:
        since_text = form.get("since", "").strip()
        if not since_text:
            raise InputError("since is required: an ISO-8601 time such as 2026-11-21T10:44:00Z")
        since = parse_time(since_text, "since")
        count = await store.replay(path_id(request, "sub_id", "subscription"), since, None, rt.clock.now())
        return _done(local_path(form.get("next"), "/dashboard/subscriptions"), "replayed", count=str(count))

    return [
        Route("/dashboard/subscriptions", view(sessions, subscriptions), methods=["GET"]),
        Route("/dashboard/deliveries", view(sessions, deliveries), methods=["GET"]),
        Route("/dashboard/deliveries/{delivery_id}", view(sessions, delivery_page), methods=["GET"]),
        Route("/dashboard/deliveries/{delivery_id}/retry", action(sessions, retry), methods=["POST"]),
        Route(
            "/dashboard/subscriptions/{sub_id}/enable",
            action(sessions, set_flag("enabled", True, "enabled")),
            methods=["POST"],
        ),
        Route(
            "/dashboard/subscriptions/{sub_id}/disable",
            action(sessions, set_flag("enabled", False, "disabled")),
            methods=["POST"],
        ),
        Route("/dashboard/subscriptions/{sub_id}/replay", action(sessions, replay), methods=["POST"]),
        Route(
            "/dashboard/subscriptions/{sub_id}/pause",
            action(sessions, set_flag("paused", True, "paused")),
            methods=["POST"],
        ),
        Route(
            "/dashboard/subscriptions/{sub_id}/resume",
            action(sessions, set_flag("paused", False, "resumed")),
            methods=["POST"],
        ),
        Route("/dashboard/subscriptions/{sub_id}/retry-dead", action(sessions, retry_dead), methods=["POST"]),
    ]
