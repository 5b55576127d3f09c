"""Queries: what the management API's list endpoints filter and page by, as the store takes them
(``hookline.store.Store.list_*``), and which deliveries a bulk retry sends again. Pages are newest
first, by id, after a cursor (the id of the last item of the previous page); the event feed is
oldest first, in commit order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class BulkRetry:
    """Which deliveries ``POST /v1/deliveries/retry`` sends again: ``status`` (``dead`` or
    ``pending``), and optionally one subscription, one event type, created in [since, until)."""

    status: str = "dead"
    subscription_id: str | None = None
    event_type: str | None = None
    since: float | None = None
    until: float | None = None
