"""What the dashboard shows about a job or a delivery, shared by the HTML pages and the live
JSON the pages poll, so both always agree."""

from __future__ import annotations

import re
from typing import Any

from hookline.dashboard.chains import Context
from hookline.dashboard.html import safe_url, when_text
from hookline.models import Delivery, Job
from hookline.queries import DeliveryQuery
from hookline.store import Store

ARCHIVE_PATH = "/v1/archive/{sha256}"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def thumbnails(job: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(src, fallback src, link) for each result image. The archived copy (served by hookline,
    so it outlives the upstream's expiring CDN link) is preferred when the job has one; the
    upstream URL is the fallback the page's script switches to if the archive cannot be shown."""
    archived: dict[str, str] = {}
    raw = job.get("archive")
    if isinstance(raw, dict):
        raw = raw.get("images") or raw.get("archived_images")
    for item in raw if isinstance(raw, list) else []:
        sha = item.get("sha256") if isinstance(item, dict) else None
        if isinstance(sha, str) and _SHA256.match(sha):
            archived[str(item.get("source_url", ""))] = ARCHIVE_PATH.format(sha256=sha)
    out: list[tuple[str, str, str]] = []
    for url in job.get("image_urls") or []:
        original = safe_url(url)
        local = archived.get(url)
        src = local or original
        if src is not None:
            out.append((src, original or src, original or src))
    return out


async def job_view(store: Store, job: Job) -> dict[str, Any]:
    """The job as the API shows it, with its archive when it succeeded (thumbnails prefer the
    archived copies: the upstream's links expire within a day)."""
    data = job.to_api()
    archive = await store.get_archive(job.id) if job.status == "succeeded" else None
    data["archive"] = archive.to_api() if archive is not None else None
    return data


async def job_state(store: Store, job: Job) -> dict[str, Any]:
    shown = 100 if job.status == "succeeded" else (job.progress or 0)
    return {
        "status": job.status,
        "progress": shown,
        "label": "—" if job.progress is None and job.status != "succeeded" else f"{shown}%",
        "terminal": job.terminal,
        "thumbs": [list(t) for t in thumbnails(await job_view(store, job))],
    }


def last_result(d: Delivery) -> str:
    """The last attempt's status code and error, e.g. ``503 server error`` (— before any)."""
    parts = (str(d.last_status_code) if d.last_status_code is not None else "", d.last_error or "")
    return " ".join(p for p in parts if p) or "—"


def next_text(d: Delivery, ctx: Context) -> str:
    """When a pending delivery is tried next, or why it is not scheduled ("waiting for #2")."""
    if d.status == "pending" and d.next_attempt_at is not None:
        return when_text(d.next_attempt_at)
    return ctx.held_because(d) or ""


def delivery_state(d: Delivery, ctx: Context) -> dict[str, Any]:
    head = ctx.waiting_for.get(d.id)
    return {
        "status": d.status,
        "attempts": d.attempts,
        "last": last_result(d),
        "next": next_text(d, ctx),
        "waiting_for": head.id if head is not None else None,
    }


async def job_counts(store: Store, job: Job) -> str:
    """A fingerprint of a job's timeline from cheap reads (no callback bodies): it changes when a
    callback arrives (last_seen_at), an event is emitted (sequence), a delivery is added or
    attempted, or the submission or the archive is tried again. The job page renders it; the
    script compares it with this answer's."""
    deliveries = (await store.list_deliveries(DeliveryQuery(job_id=job.id, limit=50))).items
    work = ""  # the submission and the archive: a held submission or a failed copy changes them only
    submission = await store.get_submission(job.id)
    if submission is not None:
        work += f".s{submission.state}{submission.attempts}"
    archive = await store.get_archive(job.id)
    if archive is not None:
        work += f".a{archive.state}{archive.attempts}"
    return f"{job.last_seen_at or 0:.3f}.{job.sequence}.{len(deliveries)}.{sum(d.attempts for d in deliveries)}{work}"
