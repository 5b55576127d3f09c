"""Delivery rows and tables, shared by the job page, the deliveries list and a delivery's page.

A row names the endpoint by its URL (what an operator recognises; the id is kept underneath), says
when a pending delivery is tried next or what it waits for ("waiting for #2", a link to that
delivery), and offers a retry unless it was delivered. On the job page the deliveries are grouped
by subscription, one ordered chain each, and a chain whose deliveries all arrived is folded: after
a replay the page stays short and what still needs attention is open.
"""

from __future__ import annotations

from collections import Counter

from hookline.dashboard.chains import Context, held
from hookline.dashboard.html import Markup, badge, button_form, html, join, query, when
from hookline.dashboard.state import last_result, next_text
from hookline.models import Delivery


def _next_cell(d: Delivery, ctx: Context) -> Markup:
    head = ctx.waiting_for.get(d.id)
    if head is not None:
        return html(
            '<a href="/dashboard/deliveries/{id}" class="waiting">{text}</a>', id=head.id, text=next_text(d, ctx)
        )
    if d.status == "pending" and d.next_attempt_at is not None:
        return when(d.next_attempt_at)
    return html("{t}", t=next_text(d, ctx))


def subscription_cell(d: Delivery, ctx: Context) -> Markup:
    """The subscription's URL, linking to its deliveries, with its id underneath."""
    return html(
        '<a href="{href}" class="url">{url}</a><div class="muted mono">{id}</div>',
        href=query("/dashboard/deliveries", subscription_id=d.subscription_id, status="all"),
        url=ctx.url(d) or d.subscription_id,
        id=d.subscription_id,
    )


def delivery_row(
    d: Delivery, ctx: Context, csrf: str, next_url: str, *, job_column: bool = False, sub_column: bool = True
) -> Markup:
    """One delivery with its status and next attempt (both live-updated) and, unless it is
    delivered, a retry button."""
    retry = Markup("")
    if d.status != "delivered":
        label = "Retry" if d.status == "dead" else "Retry now"
        retry = button_form(f"/dashboard/deliveries/{d.id}/retry", label, csrf, next_url=next_url)
    job = Markup("")
    if job_column and d.event_type.startswith("job."):
        job = html('<td data-label="Job"><a href="/dashboard/jobs/{j}" class="mono">{j}</a></td>', j=d.job_id)
    elif job_column:  # an operational event: about a subscription, not a job
        job = Markup('<td data-label="Job" class="muted">-</td>')
    sub = html('<td data-label="Subscription">{s}</td>', s=subscription_cell(d, ctx)) if sub_column else ""
    return html(
        '<tr data-delivery="{id}"><td data-label="Delivery"><a href="/dashboard/deliveries/{id}" class="mono">{id}</a>'
        '</td>{job}{sub}<td data-label="Event">{type} #{seq}</td><td data-label="Status">{status}</td>'
        '<td data-label="Attempts" data-field="attempts">{attempts}</td>'
        '<td data-label="Last result" data-field="last">{last}</td>'
        '<td data-label="Next attempt" data-field="next">{next}</td><td data-field="action">{retry}</td></tr>',
        id=d.id,
        job=job,
        sub=sub,
        type=d.event_type,
        seq=d.sequence,
        status=badge(d.status),
        attempts=d.attempts,
        last=last_result(d),
        next=_next_cell(d, ctx),
        retry=retry,
    )


def deliveries_table(rows: Markup, *, job_column: bool = False, sub_column: bool = True) -> Markup:
    columns = 7 + job_column + sub_column
    return html(
        '<table class="deliveries stack" data-live="deliveries"><thead><tr><th>Delivery</th>{job}{sub}'
        "<th>Event</th><th>Status</th><th>Attempts</th><th>Last result</th><th>Next attempt</th><th></th>"
        "</tr></thead><tbody>{rows}</tbody></table>",
        job=Markup("<th>Job</th>") if job_column else "",
        sub=Markup("<th>Subscription</th>") if sub_column else "",
        rows=rows or html('<tr><td colspan="{n}" class="muted">None.</td></tr>', n=columns),
    )


def _tally(chain: list[Delivery]) -> str:
    """``2 delivered · 1 pending · 7 waiting``: held deliveries are counted as waiting."""
    counts = Counter("waiting" if held(d) else d.status for d in chain)
    order = ("dead", "pending", "waiting", "delivered")
    return " · ".join(f"{counts[s]} {s}" for s in (*order, *sorted(set(counts) - set(order))) if counts[s])


def chains_by_subscription(deliveries: list[Delivery], ctx: Context, csrf: str, here: str) -> Markup:
    """A job's deliveries, one folded group per subscription in sending order; groups with a
    delivery that is not delivered yet are open."""
    if not deliveries:
        return deliveries_table(Markup(""), sub_column=False)
    chains: dict[str, list[Delivery]] = {}
    for d in sorted(deliveries, key=lambda d: d.id):
        chains.setdefault(d.subscription_id, []).append(d)
    return join(
        html(
            '<details class="chain" data-subscription="{sub}"{open}><summary><span class="url">{url}</span> '
            '<span class="muted">{tally}</span></summary>{table}</details>',
            sub=sub_id,
            open=Markup(" open") if any(d.status != "delivered" for d in chain) else "",
            url=ctx.url(chain[0]) or sub_id,
            tally=_tally(chain),
            table=deliveries_table(
                join(delivery_row(d, ctx, csrf, here, sub_column=False) for d in chain), sub_column=False
            ),
        )
        for sub_id, chain in chains.items()
    )
