"""The upstream workers' base: the one worker shape (``hookline.worker``), looking for work every
``HOOKLINE_UPSTREAM_INTERVAL`` seconds, plus the one way in for what they hear from an upstream
(``receiver.ingest``)."""

from __future__ import annotations

from typing import Any, TypeVar

from hookline import worker
from hookline.models import Inbound
from hookline.runtime import Runtime
from receiver import ingest

U = TypeVar("U")


class Worker(worker.Worker[U]):
    """A worker of the submit queue, the reconciler or the archiver."""

    def __init__(self, rt: Runtime, *, concurrency: int, owner: str | None = None) -> None:
        super().__init__(rt, concurrency=concurrency, interval=rt.config.upstream.interval, owner=owner)

    def heard(self, provider: str, source: str, body: bytes, **details: Any) -> Inbound:
        """What hookline heard from (or decided about) an upstream, received now: the one way in
        (``receiver.ingest.heard``; ``details`` are its keyword arguments)."""
        return ingest.heard(
            provider, source, body, self.rt.clock.now(), callback_token=self.rt.callback_token, **details
        )
