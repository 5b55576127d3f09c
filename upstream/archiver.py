"""The archiver: keeps each succeeded job's result images before their CDN links expire.

A job that becomes ``succeeded`` with image URLs is queued for the archive in the same transaction
(``record_callback``). The archiver claims it with a lease, downloads every image through the
egress guard (``HOOKLINE_ARCHIVE_MAX_BYTES``, image types only) into the content-addressed archive,
and then marks it archived and emits ``job.archived`` with ``data.archived_images`` in one
transaction. A failed attempt keeps the images it got, is retried on
``HOOKLINE_ARCHIVE_RETRY_SCHEDULE`` (by the one retry policy, ``hookline.retry``: ±20 % jitter),
and shows on the job (``archive``: state, attempts, last error); a refusal that cannot change (not
an image, too large, a private address) fails it at once.
"""

from __future__ import annotations

import logging
import random

from hookline.egress import EgressGuard
from hookline.retry import RetryPolicy
from hookline.runtime import Runtime
from hookline.upstream_work import ArchiveClaim, ArchivedImage
from upstream.archive import Archive
from upstream.images import ImageError, ImageFetcher
from upstream.worker import Worker

log = logging.getLogger(__name__)
CONCURRENCY = 8


def archive_url(rt: Runtime, sha256: str) -> str:
    """Where hookline serves an archived image (``GET /v1/archive/{sha256}``)."""
    return f"{rt.config.public_url}/v1/archive/{sha256}"


class Archiver(Worker[ArchiveClaim]):
    name = "archiver"

    def __init__(self, rt: Runtime, *, rng: random.Random | None = None, owner: str | None = None) -> None:
        super().__init__(rt, concurrency=CONCURRENCY, owner=owner)
        self.cfg = rt.config.upstream
        self.archive = Archive(rt.config.archive_dir)
        self.rng = rng or random.Random()
        self.policy = RetryPolicy(self.cfg.archive_retry_schedule)
        self.lease = self.cfg.timeout * 4 + 30.0  # a job has at most a few images
        guard = EgressGuard.from_config(rt.config)
        self.fetcher = ImageFetcher(guard, timeout=self.cfg.timeout)

    async def open(self) -> None:
        await self.fetcher.__aenter__()

    async def close(self) -> None:
        await self.fetcher.__aexit__(None, None, None)

    async def claim(self, limit: int) -> list[ArchiveClaim]:
        return await self.rt.store.claim_archives(self.owner, limit, self.rt.clock.now(), self.lease)

    async def handle(self, claim: ArchiveClaim) -> None:
        archived = list(claim.archived)
        kept = {image.source_url for image in archived}
        problems: list[str] = []
        permanent = False
        for number, url in enumerate(claim.image_urls, start=1):
            if url in kept:
                continue
            try:
                image = await self.fetcher.fetch(url, self.cfg.archive_max_bytes)
            except ImageError as exc:
                problems.append(f"image {number}: {exc.message}")
                permanent = permanent or exc.permanent
                continue
            sha256 = await self.archive.put(image.data)
            archived.append(
                ArchivedImage(url, archive_url(self.rt, sha256), sha256, image.content_type, len(image.data))
            )
        now = self.rt.clock.now()
        metrics = self.rt.metrics
        if not problems:
            event = await self.rt.store.complete_archive(claim.job_id, self.owner, archived, now)
            if event is not None:
                metrics.emitted([event.type])
                metrics.archive_downloads.labels("archived").inc()
                log.info("archived %d images", len(archived), extra={"job_id": claim.job_id})
            return
        delay = None if permanent else self.policy.delay(claim.attempts + 1, self.rng)
        retry_at = now + delay if delay is not None else None
        error = "; ".join(problems)
        await self.rt.store.fail_archive(claim.job_id, self.owner, error, archived, retry_at, now)
        metrics.archive_downloads.labels("retry" if retry_at is not None else "failed").inc()
        log.warning(
            "archiving failed: %s",
            error,
            extra={"job_id": claim.job_id, "attempt": claim.attempts + 1, "will_retry": retry_at is not None},
        )
