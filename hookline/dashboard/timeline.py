"""A job's timeline: the callbacks it received and the events it emitted, oldest first, each with
its raw body or payload folded away.

Delivery attempts are not rows of their own: they are folded under the event they delivered
("3 attempts"), each with its time, endpoint, answer and latency. A replay or a flaky subscriber
adds attempts, not rows, so the page keeps its length; the attempts stay one click away.
"""

from __future__ import annotations

import orjson

from hookline.dashboard.chains import Context
from hookline.dashboard.html import Markup, badge, html, join, when
from hookline.models import Attempt, CallbackRecord, Delivery, Event


def _callback_cells(c: CallbackRecord) -> Markup:
    return html(
        '<td data-label="What">{source} received</td><td data-label="Outcome">{outcome}{error}</td>'
        '<td><details><summary>raw body ({size} bytes)</summary><pre class="raw">{body}</pre>'
        '<pre class="raw">{headers}</pre></details></td>',
        source=c.source,
        outcome=badge(c.outcome),
        error=html(' <span class="error">{e}</span>', e=c.error) if c.error else "",
        size=len(c.body),
        body=c.body.decode("utf-8", "replace"),
        headers=orjson.dumps(c.headers, option=orjson.OPT_INDENT_2).decode(),
    )


def _attempt_line(a: Attempt, d: Delivery, ctx: Context) -> Markup:
    result = str(a.status_code) if a.status_code is not None else "no answer"
    return html(
        '<li>{t} delivery attempt → <span class="url">{sub}</span>: {result} in {ms} ms{error}{response}</li>',
        t=when(a.attempted_at),
        sub=ctx.url(d) or d.subscription_id,
        result=result,
        ms=round(a.latency_ms),
        error=html(' <span class="error">{e}</span>', e=a.error) if a.error else "",
        response=html('<details><summary>response</summary><pre class="raw">{r}</pre></details>', r=a.response_body)
        if a.response_body
        else "",
    )


def _attempts(tried: list[tuple[Attempt, Delivery]], ctx: Context) -> Markup:
    if not tried:
        return Markup("")
    tried.sort(key=lambda pair: (pair[0].attempted_at, pair[0].id))
    failed = sum(1 for a, _ in tried if a.status_code is None or not 200 <= a.status_code < 300)
    return html(
        '<details class="attempts"><summary>{n} attempt{s}{failed}</summary><ul>{lines}</ul></details>',
        n=len(tried),
        s="" if len(tried) == 1 else "s",
        failed=f" ({failed} failed)" if failed else "",
        lines=join(_attempt_line(a, d, ctx) for a, d in tried),
    )


def _event_cells(e: Event, tried: list[tuple[Attempt, Delivery]], ctx: Context) -> Markup:
    return html(
        '<td data-label="What">event emitted</td><td data-label="Outcome">{type} #{seq}</td>'
        '<td class="folds"><details><summary>payload</summary><pre class="raw">{payload}</pre></details>'
        "{attempts}</td>",
        type=e.type,
        seq=e.sequence,
        payload=orjson.dumps(orjson.loads(e.payload), option=orjson.OPT_INDENT_2).decode(),
        attempts=_attempts(tried, ctx),
    )


def timeline(
    callbacks: list[CallbackRecord],
    events: list[Event],
    deliveries: list[Delivery],
    attempts: dict[str, list[Attempt]],
    ctx: Context,
) -> Markup:
    """The table: callbacks and events by time, each event with the attempts to deliver it."""
    by_delivery = {d.id: d for d in deliveries}
    by_event: dict[str, list[tuple[Attempt, Delivery]]] = {}
    for delivery_id, tried in attempts.items():
        d = by_delivery[delivery_id]
        by_event.setdefault(d.event_id, []).extend((a, d) for a in tried)
    entries = [(c.received_at, c.id, _callback_cells(c)) for c in callbacks]
    entries += [(e.created_at, e.id, _event_cells(e, by_event.get(e.id, []), ctx)) for e in events]
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    rows = join(html("<tr><td>{t}</td>{cells}</tr>", t=when(ts), cells=cells) for ts, _, cells in entries)
    return html(
        '<table class="timeline stack"><thead><tr><th>Time</th><th>What</th><th>Outcome</th><th>Details</th></tr>'
        "</thead><tbody>{rows}</tbody></table>",
        rows=rows or Markup('<tr><td colspan="4" class="muted">Nothing yet.</td></tr>'),
    )
