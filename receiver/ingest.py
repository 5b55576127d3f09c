"""The one way in: whatever an upstream said — a callback, a poll answer, a submit answer — or
hookline decided about it (its own timeout) becomes one frozen :class:`~hookline.models.Inbound`
(:func:`heard`), which is recorded through the store with every metric counted (:func:`record`,
:func:`record_submission`), whatever its source.

The upstreams echo the callback URL, token included, in their snapshots (``properties.notifyHook``,
``replyUrl``), so the token is replaced by ``***`` here, before anything is stored or sent on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import orjson

from hookline.models import CallbackResult, Inbound, Snapshot
from hookline.nesting import MAX_DEPTH, too_deep
from hookline.runtime import Runtime
from hookline.tokens import redact
from receiver.adapters import ADAPTERS, AdapterError


def heard(
    provider: str,
    source: str,
    body: bytes,
    received_at: float,
    *,
    callback_token: str,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    snapshot: Snapshot | None = None,
    reject_reason: str | None = None,
    note: str | None = None,
) -> Inbound:
    """One frozen Inbound for what was heard.

    When neither ``snapshot`` nor ``reject_reason`` is given (a callback), the body is read with the
    provider's adapter: a body it cannot use (not JSON, nested deeper than ``hookline.nesting``
    allows, not a task) is kept with its ``reject_reason``. When ``snapshot`` is
    given, ``body`` must be the JSON document it came from, since the events it causes carry it as
    ``data.upstream``: an answer that is not JSON (a proxy's HTML error page, say) is replaced by the
    snapshot's own document. ``note`` says why hookline itself made this one (its timeout)."""
    body = redact(body, callback_token)
    if snapshot is None and reject_reason is None:
        try:
            document = orjson.loads(body)
            if too_deep(body, document):
                # Kept, like any callback, but never turned into events nobody could read.
                reject_reason = f"the body nests arrays and objects more than {MAX_DEPTH} levels deep"
            else:
                snapshot = ADAPTERS[provider](document)
        except orjson.JSONDecodeError as exc:
            reject_reason = f"the body is not valid JSON: {exc}"
        except AdapterError as exc:
            reject_reason = exc.message
    elif snapshot is not None:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            body = redact(orjson.dumps(snapshot.raw), callback_token)
    kept = dict(headers) if headers is not None else {}
    if content_type and "content-type" not in kept:
        kept["content-type"] = content_type
    return Inbound(
        provider,
        body,
        kept,
        received_at,
        source=source,
        snapshot=snapshot,
        reject_reason=reject_reason,
        note=note,
    )


async def record(rt: Runtime, inbound: Inbound, *, started: float | None = None) -> CallbackResult:
    """Record ``inbound`` (correlate, apply, persist with its events, atomically) and count it.
    ``started`` (``time.perf_counter()`` at a callback's arrival) times the ingest."""
    result = await rt.store.record_callback(inbound)
    _count(rt, inbound, result, started)
    return result


async def record_submission(rt: Runtime, job_id: str, inbound: Inbound, *, sent: bool) -> CallbackResult:
    """Record a submit answer (or hookline giving up on one) and mark the submission ``sent`` or
    ``refused`` in the same transaction; count it."""
    result = await rt.store.finish_submission(job_id, inbound, sent)
    _count(rt, inbound, result, None)
    return result


def _count(rt: Runtime, inbound: Inbound, result: CallbackResult, started: float | None) -> None:
    """Every event, whatever made it; callbacks also by outcome and with their ingest time."""
    metrics = rt.metrics
    metrics.emitted(result.event_types)
    if inbound.source == "callback":
        seconds = None if started is None or inbound.reject_reason is not None else time.perf_counter() - started
        metrics.received(inbound.provider, result.outcome, seconds)
