"""Prometheus metrics, on a registry of their own (one per app, so tests can run several).

Who counts what: ``receiver.ingest``, the one way in, counts the events whatever said them
(:meth:`Metrics.emitted`: callbacks, polls, submit answers, hookline's own timeouts), and callbacks
by outcome with their ingest latency; the archiver counts the ``job.archived`` events it makes;
the dispatcher counts attempts by result, their latency, and the
subscriptions the store reports it disabled; ``/metrics`` reads the backlog gauges from the store
at scrape time, so every process reports the shared backlog, whatever its role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)


class Metrics:
    def __init__(self) -> None:
        self._received: dict[tuple[str, str], Any] = {}
        self._latency: dict[str, Any] = {}
        self._emitted: dict[str, Any] = {}
        self._attempts: dict[str, Any] = {}
        # Counts not yet added to their counters: a counter's inc() takes a lock and checks its
        # argument, twice per callback, so callbacks and events are counted in plain ints and
        # added when /metrics is read (render). Children are still made at first sight, so
        # their ``_created`` times are those of the first callback and event, as before.
        self._received_since: dict[tuple[str, str], int] = {}
        self._emitted_since: dict[str, int] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.callbacks = Counter(
            "hookline_callbacks_received",
            "Callbacks received, by provider and outcome",
            ["provider", "outcome"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "hookline_ingest_seconds",
            "Time from a callback's arrival to its commit",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter("hookline_events", "Events emitted, by type", ["type"], registry=r)
        self.deliveries = Counter(
            "hookline_delivery_attempts",
            "Delivery attempts, by result (delivered, retry, dead)",
            ["result"],
            registry=r,
        )
        self.attempt_seconds = Histogram(
            "hookline_delivery_attempt_seconds", "Latency of delivery attempts", buckets=LATENCY_BUCKETS, registry=r
        )
        self.backlog = Gauge("hookline_deliveries_pending", "Deliveries not yet delivered or dead", registry=r)
        self.backlog_age = Gauge(
            "hookline_deliveries_oldest_pending_age_seconds", "Age of the oldest pending delivery", registry=r
        )
        self.dead = Gauge("hookline_deliveries_dead", "Deliveries that exhausted their retries", registry=r)
        self.subscriptions_disabled = Counter(
            "hookline_subscriptions_disabled",
            "Subscriptions disabled automatically, by reason (gone: the endpoint answered 410; "
            "failing: no success for HOOKLINE_DISABLE_AFTER)",
            ["reason"],
            registry=r,
        )
        self.reconciler_polls = Counter(
            "hookline_reconciler_polls",
            "Upstream polls by the reconciler, by provider and result",
            ["provider", "result"],
            registry=r,
        )
        self.submissions = Counter(
            "hookline_upstream_submissions",
            "Blend submissions to the upstreams, by provider and result (sent, held, refused, error)",
            ["provider", "result"],
            registry=r,
        )
        self.archive_downloads = Counter(
            "hookline_archive_downloads",
            "Result images downloaded into the archive, by result (archived, retry, failed)",
            ["result"],
            registry=r,
        )
        self.pruned = Counter(
            "hookline_pruned",
            "Rows and archived files deleted by retention, by kind (jobs, callbacks, events, deliveries, "
            "attempts, archived_images, ...)",
            ["kind"],
            registry=r,
        )

    def received(self, provider: str, outcome: str, seconds: float | None) -> None:
        """Count one callback, and its arrival-to-commit time when it was stored."""
        # labels() locks and builds a key on every call; this runs per callback, so keep the children.
        key = (provider, outcome)
        count = self._received_since.get(key)
        if count is None:
            if key not in self._received:
                self._received[key] = self.callbacks.labels(provider, outcome)
            count = 0
        self._received_since[key] = count + 1
        if seconds is not None:
            histogram = self._latency.get(provider)
            if histogram is None:
                histogram = self._latency[provider] = self.ingest_seconds.labels(provider)
            histogram.observe(seconds)

    def attempted(self, result: str, seconds: float) -> None:
        """Count one delivery attempt (delivered, retry or dead) and its latency."""
        counter = self._attempts.get(result)
        if counter is None:
            counter = self._attempts[result] = self.deliveries.labels(result)
        counter.inc()
        self.attempt_seconds.observe(seconds)

    def emitted(self, event_types: Iterable[str]) -> None:
        """Count events that were just committed."""
        since = self._emitted_since
        for event_type in event_types:
            count = since.get(event_type)
            if count is None:
                if event_type not in self._emitted:
                    self._emitted[event_type] = self.events.labels(event_type)
                count = 0
            since[event_type] = count + 1

    def render(self) -> bytes:
        """The exposition text, with every count made so far."""
        for key, count in self._received_since.items():
            self._received[key].inc(count)
        self._received_since.clear()
        for event_type, count in self._emitted_since.items():
            self._emitted[event_type].inc(count)
        self._emitted_since.clear()
        return generate_latest(self.registry)
