"""The store's vocabulary: what callers pass in (list queries, a new job, a subscription PATCH)
and what comes back besides the models (the backlog). The methods are ``hookline.store.Store``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hookline.models import Subscription

if TYPE_CHECKING:
    from hookline.store.store import Store as Store  # see __getattr__

MAX_PAGE = 500


def _set_filters(query: Any, *columns: str) -> dict[str, Any]:
    """The equality filters a list query sets: column name → value, for each that is not None."""
    return {column: value for column in columns if (value := getattr(query, column)) is not None}


@dataclass(slots=True)
class JobQuery:
    status: str | None = None
    provider: str | None = None
    correlation_key: str | None = None
    limit: int = 50
    cursor: str | None = None  # the id of the last item of the previous page

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "status", "provider", "correlation_key")


@dataclass(slots=True)
class CallbackQuery:
    outcome: str | None = None
    provider: str | None = None
    limit: int = 50
    cursor: str | None = None

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "outcome", "provider")


@dataclass(slots=True)
class DeliveryQuery:
    status: str | None = None
    subscription_id: str | None = None
    job_id: str | None = None
    limit: int = 50
    cursor: str | None = None

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "status", "subscription_id", "job_id")


@dataclass(slots=True)
class SubscriptionQuery:
    limit: int = 50
    cursor: str | None = None
    job_id: str | None = None

    def filters(self) -> dict[str, Any]:
        return _set_filters(self, "job_id")


@dataclass(slots=True)
class EventQuery:
    """The event feed (``GET /v1/events``): events oldest first, after ``after`` (a cursor)."""

    type: str | None = None
    job_id: str | None = None
    limit: int = 50
    after: str | None = None  # the next_cursor of a previous page: ``<position>_<event id>``

    def position(self) -> tuple[int, str] | None:
        """``after`` split into (position, event id); the API checked its shape."""
        if self.after is None:
            return None
        position, _, event_id = self.after.partition("_")
        return int(position), event_id


def feed_cursor(position: int, event_id: str) -> str:
    """The feed cursor of the event ``event_id`` at ``position`` in its database's commit order."""
    return f"{position}_{event_id}"


@dataclass(slots=True)
class NewJob:
    """A job registered before its first callback (``POST /v1/jobs``)."""

    provider: str
    correlation_key: str | None
    upstream_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    subscription: Subscription | None = None  # the one-off subscription made from ``callback_url``
    origin: str = "registered"


@dataclass(slots=True)
class SubscriptionChanges:
    """A PATCH: only the fields named in ``set_fields`` change."""

    url: str | None = None
    event_types: list[str] | None = None
    filter: dict[str, Any] | None = None
    description: str | None = None
    enabled: bool | None = None
    headers: dict[str, str] | None = None
    rate_limit: int | None = None
    retry_schedule: list[float] | None = None
    paused: bool | None = None
    set_fields: frozenset[str] = frozenset()

    def apply(self, sub: Subscription, now: float) -> None:
        """Set the changed fields on ``sub``. Enabling it forgets why it was disabled and its
        failures; disabling it says an operator did."""
        was_enabled = sub.enabled
        for name in self.set_fields:
            setattr(sub, name, getattr(self, name))
        sub.updated_at = now
        if sub.enabled and not was_enabled:
            sub.disabled_reason = None
            sub.failing_since = None
            sub.throttled_until = None
        elif was_enabled and not sub.enabled:
            sub.disabled_reason = "disabled by an operator"


@dataclass(slots=True)
class Backlog:
    pending: int
    oldest_pending_at: float | None
    dead: int


def __getattr__(name: str) -> Any:
    """``from hookline.store.base import Store`` keeps working for code written before ``Store``
    became a class of its own (``hookline.store.Store``; importing it here directly would be a cycle)."""
    if name == "Store":
        from hookline.store.store import Store

        return Store
    raise AttributeError(name)
