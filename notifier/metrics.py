"""Prometheus metrics for ``GET /metrics`` (prometheus-client, one registry per process).

Modules record with the helpers here (``record_notification``, ``record_sync``,
``record_feed_request``); :func:`render` produces the text format, refreshing the
outbox (and subscriber) gauges from the database first. ``render(private=True)``
(``[feed] private``) sums the per-channel series, so the unauthenticated page names no
channel.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

NOTIFICATIONS = Counter(
    "notifier_notifications_total", "Notifications handled by the dispatcher, by outcome.",
    ["type", "outcome"], registry=REGISTRY)
DELIVERY_SECONDS = Histogram(
    "notifier_delivery_duration_seconds", "Time one delivery attempt took.", ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
LATENESS_SECONDS = Histogram(
    "notifier_dispatch_lateness_seconds", "How long after its due time a notification was sent.",
    ["type"], buckets=(0.1, 0.5, 1, 2, 5, 15, 60, 300, 3600, 21600), registry=REGISTRY)
SYNC_SECONDS = Histogram(
    "notifier_sync_duration_seconds", "Duration of one calendar sync pass.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
SYNC_CHANGES = Counter(
    "notifier_sync_changes_total", "Changes recorded by sync, by kind.", ["kind"],
    registry=REGISTRY)
SYNC_ERRORS = Counter(
    "notifier_sync_file_errors_total", "Calendar files that could not be synced.",
    registry=REGISTRY)
FEED_REQUESTS = Counter(
    "notifier_feed_requests_total", "Feed requests by HTTP status (200, 304, 404).", ["status"],
    registry=REGISTRY)
OUTBOX = Gauge(
    "notifier_outbox_notifications", "Outbox rows by status.", ["status"], registry=REGISTRY)
SUBSCRIBERS = Gauge(
    "notifier_subscribers", "People following cases by email, by state (as `notifier "
    "subscribers` shows it; only with [subscriptions] enabled).", ["state"],
    registry=REGISTRY)
LAST_SYNC = Gauge(
    "notifier_last_sync_timestamp_seconds", "Unix time of the last finished sync.",
    registry=REGISTRY)

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "withdrawn", "missed")


@functools.cache
def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: this runs for every message sent."""
    return metric.labels(*labels)


def record_notification(type_: str, outcome: str, *, channel: str | None = None,
                        duration_s: float | None = None, lateness_s: float | None = None) -> None:
    _child(NOTIFICATIONS, type_, outcome).inc()
    if channel is not None and duration_s is not None:
        _child(DELIVERY_SECONDS, channel).observe(duration_s)
    if lateness_s is not None:
        _child(LATENESS_SECONDS, type_).observe(max(lateness_s, 0.0))


def record_sync(duration_s: float, change_kinds: list[str], errors: int,
                finished_ts: float) -> None:
    SYNC_SECONDS.observe(duration_s)
    for kind in change_kinds:
        SYNC_CHANGES.labels(kind).inc()
    if errors:
        SYNC_ERRORS.inc(errors)
    LAST_SYNC.set(finished_ts)


def record_feed_request(status: int) -> None:
    FEED_REQUESTS.labels(str(status)).inc()


class _WithoutLabel:
    """The registry's metrics with one label summed away (``_created``: the earliest)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def collect(self) -> Iterator[Metric]:
        for m in REGISTRY.collect():
            if not any(self.label in smp.labels for smp in m.samples):
                yield m
                continue
            merged: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            for smp in m.samples:
                labels = tuple(sorted((k, v) for k, v in smp.labels.items() if k != self.label))
                key = (smp.name, labels)
                if key not in merged:
                    merged[key] = smp.value
                elif smp.name.endswith("_created"):
                    merged[key] = min(merged[key], smp.value)
                else:
                    merged[key] += smp.value
            out = Metric(m.name, m.documentation, m.type, m.unit)
            out.samples = [Sample(name, dict(labels), value)
                           for (name, labels), value in merged.items()]
            yield out


def render(outbox_counts: Mapping[str, int] | None = None, *, private: bool = False,
           subscriber_counts: Mapping[str, int] | None = None) -> bytes:
    if outbox_counts is not None:
        for status in OUTBOX_STATUSES:
            OUTBOX.labels(status).set(outbox_counts.get(status, 0))
    if subscriber_counts is not None:
        for state, n in subscriber_counts.items():
            SUBSCRIBERS.labels(state).set(n)
    return generate_latest(_WithoutLabel("channel") if private else REGISTRY)
