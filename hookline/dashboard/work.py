"""The job page's panels for what hookline does about a job besides delivering it: sending it to
the upstream (the submission: queued, held for a full upstream queue, sent or refused) and keeping
its result images (the archive: pending, archived or failed). Each says what happened last and what
happens next, so "why is my job still queued?" is answered without the API."""

from __future__ import annotations

from hookline.dashboard.html import Markup, badge, html, join, when
from hookline.dashboard.state import ARCHIVE_PATH
from hookline.upstream_work import ArchiveState, Submission

SUBMISSION_MEANING = {
    "pending": "waiting to be sent to the upstream",
    "sent": "accepted by the upstream",
    "refused": "refused by the upstream",
}
ARCHIVE_MEANING = {
    "pending": "the result images are being copied",
    "archived": "the result images are kept by hookline",
    "failed": "the retries ran out: only the upstream's links remain",
}


def _facts(facts: list[tuple[str, Markup | str]]) -> Markup:
    return join(html("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in facts)


def _error(text: str | None) -> Markup:
    return html('<span class="error">{e}</span>', e=text) if text else Markup('<span class="muted">—</span>')


def submission_panel(sub: Submission | None) -> Markup:
    if sub is None:
        return Markup("")
    facts: list[tuple[str, Markup | str]] = [
        ("State", html("{b} {m}", b=badge(sub.state), m=SUBMISSION_MEANING.get(sub.state, ""))),
        ("Provider", f"{sub.provider}{f' (channel {sub.channel})' if sub.channel else ''}"),
        ("Attempts", str(sub.attempts)),
        ("Last upstream error", _error(sub.last_error)),
    ]
    if sub.state == "pending":
        facts.append(("Next attempt", when(sub.next_attempt_at)))
    if sub.sent_at is not None:
        facts.append(("Sent", when(sub.sent_at)))
    facts.append(("Queued", when(sub.created_at)))
    return html(
        '<section class="panel" data-panel="submission"><h2>Submission</h2><dl>{facts}</dl></section>',
        facts=_facts(facts),
    )


def _image(image_url: str, content_type: str, size: int, source: str) -> Markup:
    return html(
        '<li><a href="{href}" class="url" target="_blank" rel="noopener noreferrer">{href}</a> '
        '<span class="muted">{type}, {kib} KiB, from <span class="url">{source}</span></span></li>',
        href=image_url,
        type=content_type,
        kib=f"{size / 1024:.1f}",
        source=source,
    )


def archive_panel(archive: ArchiveState | None, *, archiving: bool = True) -> Markup:
    """``archiving``: whether this hookline copies result images at all (``HOOKLINE_ARCHIVE``);
    when it does not, a pending archive says so rather than promising a copy."""
    if archive is None:
        return Markup("")
    meaning = ARCHIVE_MEANING.get(archive.state, "")
    if archive.state == "pending" and not archiving:
        meaning = "archiving is turned off (HOOKLINE_ARCHIVE=false): only the upstream's links are kept"
    images = join(
        _image(ARCHIVE_PATH.format(sha256=i.sha256), i.content_type, i.bytes, i.source_url) for i in archive.images
    ) or Markup('<li class="muted">none yet</li>')
    facts: list[tuple[str, Markup | str]] = [
        ("State", html("{b} {m}", b=badge(archive.state), m=meaning)),
        ("Archived images", html('<ul class="plain">{i}</ul>', i=images)),
        ("Attempts", str(archive.attempts)),
        ("Last error", _error(archive.last_error)),
    ]
    if archive.state == "pending" and archiving:
        facts.append(("Next attempt", when(archive.next_attempt_at)))
    facts.append(("Updated", when(archive.updated_at)))
    return html(
        '<section class="panel" data-panel="archive"><h2>Archive</h2><dl>{facts}</dl></section>',
        facts=_facts(facts),
    )
