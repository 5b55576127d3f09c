"""Dashboard pages about jobs: the list (filters, search, cursor pages, live progress) and one
job with its timeline (callbacks with their raw bodies, events, deliveries and their attempts)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookline.api.http import path_id, query_choice, query_cursor, query_text
from hookline.dashboard import chains
from hookline.dashboard.deliveries import chains_by_subscription
from hookline.dashboard.html import (
    Markup,
    badge,
    button_form,
    escape,
    html,
    join,
    notice,
    page,
    progress_bar,
    query,
    when,
)
from hookline.dashboard.session import Session, Sessions, action, view
from hookline.dashboard.state import job_counts, job_view, thumbnails
from hookline.dashboard.timeline import timeline
from hookline.dashboard.work import archive_panel, submission_panel
from hookline.errors import NotFound
from hookline.models import PROVIDERS, STATUSES, Job
from hookline.queries import DeliveryQuery, JobQuery
from hookline.retention import erase_jobs
from hookline.runtime import Runtime

PAGE_SIZE = 25
TIMELINE_DELIVERIES = 50  # attempts are read per delivery: bound the work of one page view


def thumb_markup(job: dict[str, Any], *, limit: int = 1, size: int = 64) -> Markup:
    images = thumbnails(job)[:limit]
    return join(
        html(
            '<a href="{href}" target="_blank" rel="noopener noreferrer">'
            '<img src="{src}" data-fallback="{fallback}" alt="result image {n}" width="{size}" height="{size}" '
            'loading="lazy" referrerpolicy="no-referrer"></a>',
            href=href,
            src=src,
            fallback=fallback,
            n=n,
            size=size,
        )
        for n, (src, fallback, href) in enumerate(images, 1)
    )


def job_row(job: Job, data: dict[str, Any]) -> Markup:
    """A row of the jobs list; ``data`` is the job's ``job_view``."""
    return html(
        '<tr data-job="{id}" data-terminal="{terminal}"><td class="thumb" data-field="thumb">{thumb}</td>'
        '<td><a href="/dashboard/jobs/{id}">{title}</a><div class="muted mono">{id}</div></td>'
        '<td data-label="Provider">{provider}</td><td data-label="Status">{status}</td>'
        '<td data-label="Progress">{progress}</td><td data-label="Updated">{updated}</td></tr>',
        id=job.id,
        terminal="1" if job.terminal else "",
        thumb=thumb_markup(data),
        title=job.correlation_key or job.upstream_id or job.id,
        provider=job.provider,
        status=badge(job.status),
        progress=progress_bar(job.progress, job.status),
        updated=when(job.updated_at),
    )


def _options(options: tuple[str, ...], chosen: str | None, everything: str) -> Markup:
    first = html('<option value="">{e}</option>', e=everything)
    return first + join(
        html('<option value="{o}"{sel}>{o}</option>', o=o, sel=Markup(" selected") if o == chosen else "")
        for o in options
    )


def routes(rt: Runtime, sessions: Sessions) -> list[Route]:
    store = rt.store

    async def job_list(request: Request, session: Session) -> Response:
        status = query_choice(request, "status", STATUSES)
        provider = query_choice(request, "provider", PROVIDERS)
        key = query_text(request, "q")
        cursor = query_cursor(request, "job")
        if key and key.startswith("job_") and await store.get_job(key) is not None:
            return RedirectResponse(f"/dashboard/jobs/{key}", status_code=303)
        found = await store.list_jobs(
            JobQuery(status=status, provider=provider, correlation_key=key, limit=PAGE_SIZE, cursor=cursor)
        )
        filters = html(
            '<form method="get" action="/" class="filters">'
            '<label>Status <select name="status">{statuses}</select></label>'
            '<label>Provider <select name="provider">{providers}</select></label>'
            '<label>Correlation key or job id <input name="q" value="{q}" size="28"></label>'
            '<button>Filter</button> <a href="/">Clear</a></form>',
            statuses=_options(STATUSES, status, "any"),
            providers=_options(PROVIDERS, provider, "any"),
            q=key or "",
        )
        views = await asyncio.gather(*(job_view(store, j) for j in found.items))
        rows = join(job_row(j, v) for j, v in zip(found.items, views, strict=True)) or html(
            '<tr><td colspan="6" class="muted">No jobs{m}.</td></tr>',
            m=" match these filters"
            if status or provider or key
            else " yet: point an upstream's callbacks at hookline ('hookline info' prints the URLs)",
        )
        pager = Markup("")
        if cursor:
            pager += html('<a href="{u}">« Newest</a> ', u=query("/", status=status, provider=provider, q=key))
        if found.next_cursor:
            pager += html(
                '<a href="{u}" rel="next">Older »</a>',
                u=query("/", status=status, provider=provider, q=key, cursor=found.next_cursor),
            )
        body = html(
            '<h1>Jobs</h1>{filters}<p class="live-note" hidden data-live-note>New jobs arrived. '
            '<a href="{here}">Show them</a></p>'
            '<table class="jobs stack" data-live="jobs" data-newest="{newest}" data-watch-new="{watch}">'
            "<thead><tr><th>Result</th><th>Job</th><th>Provider</th><th>Status</th><th>Progress</th>"
            '<th>Updated</th></tr></thead><tbody>{rows}</tbody></table><p class="pager">{pager}</p>',
            filters=filters,
            here=query("/", status=status, provider=provider, q=key),
            newest=found.items[0].id if found.items else "",
            watch="" if cursor else "1",
            rows=rows,
            pager=pager,
        )
        return page("Jobs", body, csrf=session.csrf, active="Jobs", notice=notice(request))

    async def job_page(request: Request, session: Session) -> Response:
        job_id = path_id(request, "job_id", "job")
        job = await store.get_job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        counts = await job_counts(store, job)  # before the reads below: a change in between shows up
        callbacks = await store.job_callbacks(job_id)
        events = await store.job_events(job_id)
        shown = await store.list_deliveries(DeliveryQuery(job_id=job_id, limit=TIMELINE_DELIVERIES))
        deliveries, more_deliveries = shown.items, shown.next_cursor is not None
        attempts = {d.id: await store.delivery_attempts(d.id) for d in deliveries}
        ctx = await chains.context(store, deliveries)
        submission = await store.get_submission(job_id)
        archive = await store.get_archive(job_id)
        here = f"/dashboard/jobs/{job_id}"
        body = html(
            '<section data-live="job" data-job="{id}" data-counts="{counts}">{summary}</section><p>{erase}</p>'
            '<p class="live-note" hidden data-live-note>This job has new activity. <a href="{here}">Reload</a></p>'
            '{submission}{archive}<h2>Deliveries</h2><div class="chains">{deliveries}</div>{more}'
            "<h2>Timeline</h2>{timeline}",
            id=job.id,
            counts=counts,
            summary=_summary(job, await job_view(store, job)),
            erase=button_form(
                f"{here}/erase",
                "Erase this job",
                session.csrf,
                next_url=here,
                confirm="Erase this job with its callbacks, events, deliveries and archived images? "
                "Pending deliveries are cancelled. This cannot be undone.",
            ),
            here=here,
            submission=submission_panel(submission),
            archive=archive_panel(archive, archiving=rt.config.upstream.archive),
            deliveries=chains_by_subscription(deliveries, ctx, session.csrf, here),
            more=html(
                '<p class="muted">The newest {n} deliveries are shown: '
                '<a href="{all}">every delivery of this job</a>.</p>',
                n=TIMELINE_DELIVERIES,
                all=query("/dashboard/deliveries", status="all", job_id=job_id),
            )
            if more_deliveries
            else "",
            timeline=timeline(callbacks, events, deliveries, attempts, ctx),
        )
        return page(job.correlation_key or job.id, body, csrf=session.csrf, active="Jobs", notice=notice(request))

    async def erase(request: Request, session: Session, form: dict[str, str]) -> Response:
        """The same erasure as ``DELETE /v1/jobs/{id}`` (``hookline.retention.erase_jobs``)."""
        job_id = path_id(request, "job_id", "job")
        if not (await erase_jobs(store, rt.config.archive_dir, [job_id]))["jobs"]:
            raise NotFound(f"no job {job_id!r}")
        return RedirectResponse("/?done=erased", status_code=303)

    return [
        Route("/", view(sessions, job_list), methods=["GET"]),
        Route("/dashboard/jobs/{job_id}", view(sessions, job_page), methods=["GET"]),
        Route("/dashboard/jobs/{job_id}/erase", action(sessions, erase), methods=["POST"]),
    ]


def _summary(job: Job, data: dict[str, Any]) -> Markup:
    facts = [
        ("Job id", html('<span class="mono">{v}</span>', v=job.id)),
        ("Provider", escape(job.provider)),
        ("Upstream id", html('<span class="mono">{v}</span>', v=job.upstream_id or "—")),
        ("Correlation key", html('<span class="mono">{v}</span>', v=job.correlation_key or "—")),
        ("Action", escape(job.action or "—")),
        ("Origin", escape(job.origin)),
        ("Created", when(job.created_at)),
        ("Updated", when(job.updated_at)),
        ("Last callback", when(job.last_seen_at)),
    ]
    if job.error:
        facts.append(("Error", html('<span class="error">{e}</span>', e=job.error)))
    return html(
        '<h1>{title} {status}</h1><p>{progress}</p><div class="images" data-field="images">{images}</div>'
        '<dl class="facts">{facts}</dl><details><summary>Metadata</summary><pre>{metadata}</pre></details>',
        title=job.correlation_key or job.id,
        status=badge(job.status),
        progress=progress_bar(job.progress, job.status),
        images=thumb_markup(data, limit=8, size=160),
        facts=join(html("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in facts),
        metadata=orjson.dumps(job.metadata, option=orjson.OPT_INDENT_2).decode(),
    )
