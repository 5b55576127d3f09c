"""The domain: jobs, the callbacks that move them, the events they emit, subscriptions and deliveries.

These are plain data. The rules that change them live in ``hookline.statemachine`` (jobs),
``hookline.correlate`` (which job a callback belongs to), ``hookline.fanout`` (which subscription
gets which event) and ``hookline.retry`` (what a delivery attempt's result means). The store
persists them; ``to_api`` renders the shapes the management API documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from hookline.clock import isoformat

PROVIDERS = ("mjproxy", "useapi")
STATUSES = ("queued", "submitted", "in_progress", "succeeded", "failed", "moderated", "cancelled")
TERMINAL = frozenset({"succeeded", "failed", "moderated", "cancelled"})
OUTCOMES = ("applied", "duplicate", "stale", "conflict", "rejected")
EVENT_TYPES = (
    "job.submitted",
    "job.progress",
    "job.succeeded",
    "job.failed",
    "job.moderated",
    "job.cancelled",
    "job.archived",
    # operational events (hookline.operational): sent only to subscriptions that name them
    "subscription.disabled",
    "subscription.failing",
    "subscription.recovered",
    "delivery.dead",
)
DELIVERY_STATUSES = ("pending", "delivered", "dead")

T = TypeVar("T")


@dataclass(slots=True)
class Snapshot:
    """What one upstream payload says about a job, in hookline's terms (see ``receiver.adapters``)."""

    upstream_id: str | None
    correlation_key: str | None
    status: str
    progress: int | None
    image_urls: tuple[str, ...] = ()
    error: str | None = None
    action: str | None = None
    raw: Any = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """What hookline heard from (or about) an upstream — a callback, a poll answer, a submit answer,
    or its own timeout — before it is matched to a job. Frozen: it is built once, complete, by
    ``receiver.ingest.heard`` and recorded as it is."""

    provider: str
    body: bytes
    headers: dict[str, str]
    received_at: float
    source: str = "callback"  # callback | poll | submit | timeout
    # When ``snapshot`` is set, ``body`` is the JSON document it was read from: that document is
    # what the events it causes carry as ``data.upstream``.
    snapshot: Snapshot | None = None
    reject_reason: str | None = None  # set when the body is unusable: stored with outcome "rejected"
    note: str | None = None  # why hookline itself made this one (a timeout): kept with it in the log


@dataclass(slots=True)
class CallbackResult:
    callback_id: str
    job_id: str | None
    outcome: str
    event_ids: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)  # parallel to event_ids (for metrics)


@dataclass(slots=True)
class Job:
    id: str
    provider: str
    upstream_id: str | None
    correlation_key: str | None
    status: str
    progress: int | None
    image_urls: list[str]
    error: str | None
    action: str | None
    metadata: dict[str, Any]
    upstream_callback_id: str | None  # the callback whose snapshot was applied last; None before the first
    sequence: int  # number of events emitted so far
    origin: str  # registered | callback | submitted
    created_at: float
    updated_at: float
    last_seen_at: float | None = None
    upstream: Any = None  # that callback's parsed body, when loaded (the API shows it; ingest does not need it)

    @classmethod
    def new(
        cls,
        job_id: str,
        provider: str,
        now: float,
        *,
        origin: str,
        upstream_id: str | None = None,
        correlation_key: str | None = None,
        action: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Job:
        """A job that has seen no snapshot yet: ``queued``, no events."""
        return cls(
            id=job_id,
            provider=provider,
            upstream_id=upstream_id,
            correlation_key=correlation_key,
            status="queued",
            progress=None,
            image_urls=[],
            error=None,
            action=action,
            metadata=metadata or {},
            upstream_callback_id=None,
            sequence=0,
            origin=origin,
            created_at=now,
            updated_at=now,
        )

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "upstream_id": self.upstream_id,
            "correlation_key": self.correlation_key,
            "status": self.status,
            "progress": self.progress,
            "image_urls": list(self.image_urls),
            "error": self.error,
            "action": self.action,
            "metadata": self.metadata,
            "sequence": self.sequence,
            "origin": self.origin,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "last_seen_at": isoformat(self.last_seen_at),
            "upstream": self.upstream,
        }


@dataclass(slots=True)
class CallbackRecord:
    """A stored callback: the job's timeline."""

    id: str
    job_id: str | None
    provider: str
    source: str
    outcome: str
    received_at: float
    headers: dict[str, str]
    body: bytes
    error: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "provider": self.provider,
            "source": self.source,
            "outcome": self.outcome,
            "received_at": isoformat(self.received_at),
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "error": self.error,
        }


@dataclass(slots=True)
class Event:
    """An outbound event. ``payload`` is the exact body every subscriber receives; it is stored as
    ``head`` (everything but ``data.upstream``) and the id of the callback whose raw body is
    ``data.upstream`` (see ``hookline.events``), so a callback body is stored once."""

    id: str
    job_id: str
    type: str
    sequence: int
    created_at: float
    payload: bytes
    head: bytes = b""
    callback_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id if self.type.startswith("job.") else None,  # operational: no job
            "type": self.type,
            "sequence": self.sequence,
            "created_at": isoformat(self.created_at),
            "payload": orjson.loads(self.payload),
        }


@dataclass(slots=True)
class SigningSecret:
    secret: str
    created_at: float
    expires_at: float | None = None  # set when a rotation retires it

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(slots=True)
class Subscription:
    id: str
    url: str
    event_types: list[str] | None  # None: every type
    filter: dict[str, Any]
    description: str | None
    secrets: list[SigningSecret]
    enabled: bool
    disabled_reason: str | None
    job_id: str | None  # set for a one-off subscription made by ``callback_url`` on a job
    created_at: float
    updated_at: float
    failing_since: float | None = None
    last_success_at: float | None = None
    throttled_until: float | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with every delivery (issue 15)
    rate_limit: int | None = None  # requests per second; None: unlimited
    retry_schedule: list[float] | None = None  # None: the global HOOKLINE_RETRY_SCHEDULE
    paused: bool = False  # deliveries are queued but held until it is resumed

    @property
    def secret(self) -> str:
        """The newest secret: the one a subscriber should be using."""
        return self.secrets[-1].secret

    def to_api(self, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "event_types": self.event_types,
            "filter": self.filter,
            "description": self.description,
            "enabled": self.enabled,
            "paused": self.paused,
            "disabled_reason": self.disabled_reason,
            "job_id": self.job_id,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "failing_since": isoformat(self.failing_since),
            "last_success_at": isoformat(self.last_success_at),
            "rate_limit": self.rate_limit,
            "retry_schedule": self.retry_schedule,
        }
        if with_secret:
            out["secret"] = self.secret
            out["headers"] = self.headers  # shown where the secret is: a header may carry a credential
        return out


@dataclass(slots=True)
class Delivery:
    id: str
    event_id: str
    subscription_id: str
    job_id: str
    event_type: str
    sequence: int
    status: str
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "subscription_id": self.subscription_id,
            "job_id": self.job_id if self.event_type.startswith("job.") else None,  # operational: no job
            "event_type": self.event_type,
            "sequence": self.sequence,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": isoformat(self.next_attempt_at),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "delivered_at": isoformat(self.delivered_at),
        }


@dataclass(slots=True)
class Attempt:
    id: str
    delivery_id: str
    attempted_at: float
    status_code: int | None
    latency_ms: float
    error: str | None
    response_body: str | None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "attempted_at": isoformat(self.attempted_at),
            "status_code": self.status_code,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "response_body": self.response_body,
        }


@dataclass(slots=True)
class Claim:
    """A delivery leased to one dispatcher: everything needed to send it."""

    delivery_id: str
    event_id: str
    subscription_id: str
    job_id: str
    url: str
    payload: bytes
    secrets: list[str]
    attempts: int  # attempts made before this one
    # The subscription's settings (issue 15), read when the delivery is claimed:
    headers: dict[str, str] = field(default_factory=dict)
    retry_schedule: tuple[float, ...] | None = None  # None: the dispatcher's global schedule
    send_at: float | None = None  # the send slot the subscription's rate limit gave it (None: now)


@dataclass(slots=True)
class Completion:
    """The result of one attempt and what it means (decided by ``hookline.retry``)."""

    delivery_id: str
    subscription_id: str
    owner: str
    attempt: Attempt
    status: str  # pending (retry later) | delivered | dead
    next_attempt_at: float | None
    success: bool
    disable_reason: str | None = None  # disable the subscription now (410 Gone)
    throttle_until: float | None = None  # pause the whole subscription (429/503 + Retry-After)


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(slots=True)
class Backlog:
    """Deliveries waiting to be sent (the oldest since when) and dead ones (``/metrics``, ``hookline info``)."""

    pending: int
    oldest_pending_at: float | None
    dead: int
