"""The upstream side's background services, for ``app.background_services`` (dispatcher role)."""

from __future__ import annotations

from typing import Any

from hookline.runtime import Runtime
from upstream.archiver import Archiver
from upstream.reconciler import Reconciler
from upstream.submitter import SubmitQueue
from upstream.worker import Worker


def upstream_services(rt: Runtime) -> list[Worker[Any]]:
    """The submit queue and the reconciler when an upstream is configured (``HOOKLINE_MJPROXY_URL``,
    ``HOOKLINE_USEAPI_TOKEN``); the archiver unless ``HOOKLINE_ARCHIVE=false``."""
    found: list[Worker[Any]] = []
    if rt.config.upstream.providers:
        found += [SubmitQueue(rt), Reconciler(rt)]
    if rt.config.upstream.archive:
        found.append(Archiver(rt))
    return found
