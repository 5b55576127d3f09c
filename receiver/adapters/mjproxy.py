"""midjourney-proxy family: novicezk open source, -plus, the trueai-org fork, new-api aggregators.

Every callback is a full ``Task`` snapshot (PROVIDERS.md §1.3): ``id`` is the task id, ``state``
the caller's correlation key, ``status`` one of NOT_START, SUBMITTED, IN_PROGRESS, MODAL (plus),
SUCCESS, FAILURE, CANCEL (plus/trueai). ``progress`` is a string such as ``"46%"``, ``""`` or
``"Waiting to start"``. The trueai fork adds ``imageUrls``; new-api adds ``videoUrl(s)``.

The family reports cancels and moderation as ``FAILURE`` with a text (trueai ``取消任务``;
``[Image denied] …``; ``Banned prompt detected``), so a failure is classified by its ``failReason``
(:func:`classify_failure`); the text stays the job's ``error``.
"""

from __future__ import annotations

from typing import Any

from hookline.models import Snapshot
from receiver.adapters.common import (
    AdapterError,
    NoStatus,
    identifier,
    normalize_progress,
    percent,
    require_object,
    text,
    urls,
)

# Lower-cased fragments of a failReason, checked in this order (a cancel names no moderation).
CANCEL_TEXTS = ("取消", "cancel")
MODERATION_TEXTS = ("banned", "banned prompt", "image denied", "moderat", "违规", "敏感")

STATUS = {
    "NOT_START": "queued",
    "QUEUED": "queued",
    "PENDING": "queued",
    "SUBMITTED": "submitted",
    "IN_PROGRESS": "in_progress",
    "MODAL": "in_progress",
    "RUNNING": "in_progress",
    "SUCCESS": "succeeded",
    "SUCCEEDED": "succeeded",
    "COMPLETED": "succeeded",
    "FAILURE": "failed",
    "FAILED": "failed",
    "FAIL": "failed",
    "CANCEL": "cancelled",
    "CANCELLED": "cancelled",
    "CANCELED": "cancelled",
}


def parse(document: Any) -> Snapshot:
    """Read a midjourney-proxy ``Task`` JSON object into a snapshot."""
    task = require_object(document)
    upstream_id = identifier(task.get("id"), "id", 256)
    if upstream_id is None:
        raise AdapterError("no task id: a midjourney-proxy callback carries the task in 'id'")
    raw_status = text(task.get("status"))
    if raw_status is None:
        raise NoStatus("no 'status' in the callback")
    status = STATUS.get(raw_status.upper())
    if status is None:
        raise AdapterError(f"unknown status {raw_status!r}; expected one of " + ", ".join(sorted(STATUS)))
    image_urls = urls(task.get("imageUrl"), task.get("imageUrls")) if status in ("in_progress", "succeeded") else ()
    error = text(task.get("failReason")) if status in ("failed", "cancelled") else None
    if status == "failed" and error is None:
        error = "failed upstream without a reason"
    elif status == "failed":
        status = classify_failure(error)
    action = text(task.get("action"))
    return Snapshot(
        upstream_id=upstream_id,
        correlation_key=identifier(task.get("state"), "state"),
        status=status,
        progress=normalize_progress(status, percent(task.get("progress"))),
        image_urls=image_urls,
        error=error,
        action=action.lower() if action else None,
        raw=task,
    )


def classify_failure(reason: str | None) -> str:
    """What a midjourney-proxy ``FAILURE`` really was, read from its text: ``cancelled`` for a cancel
    (``取消``, ``cancel``), ``moderated`` for a refusal (``banned``, ``Banned prompt``, ``Image
    denied``, ``moderat…``, ``违规``, ``敏感``), otherwise ``failed``."""
    if not reason:
        return "failed"
    lowered = reason.lower()
    if any(fragment in lowered for fragment in CANCEL_TEXTS):
        return "cancelled"
    if any(fragment in lowered for fragment in MODERATION_TEXTS):
        return "moderated"
    return "failed"
