"""Prometheus metrics for served models: requests, errors and latency per route.

Each app owns its registry (no global state), so several models or test apps in one
process never share counters. Labels are bounded: routes are the declared route
templates (unknown paths count as ``other``), never raw paths or model outputs.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class HttpMetrics:
    """The HTTP server's metric families, registered in their own registry."""

    def __init__(self, model: str, prefix: str = "nervosum") -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            f"{prefix}_http_requests",
            "HTTP requests answered, by route, method and status code.",
            ["model", "route", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            f"{prefix}_http_errors",
            "HTTP requests answered with an error, by route and error type.",
            ["model", "route", "type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "Time from request start to response end, by route and method.",
            ["model", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{prefix}_http_requests_in_flight",
            "HTTP requests being processed now.",
            ["model"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            f"{prefix}_batch_size",
            "Rows per model call made by the adaptive batcher.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            f"{prefix}_batch_queue_rows",
            "Rows waiting for the model in the adaptive batcher.",
            ["model"],
            registry=self.registry,
        )
        self.ready = Gauge(
            f"{prefix}_model_ready",
            "1 once the model is loaded and serving, else 0.",
            ["model"],
            registry=self.registry,
        )
        self.ready.labels(model).set(0)
        # Requests being processed: changed twice per request on the event loop, read at
        # scrape time; a plain int spares two locked gauge updates per request.
        self.in_flight_count = 0
        self.in_flight.labels(model).set_function(lambda: self.in_flight_count)
        self._batch_rows = self.batch_rows.labels(model)
        # Label lookups cost more than the increments; children are cached per label set.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(
                self.model, route, method, str(status)
            )
        counter.inc()
        timer = self._latency.get(key[:2])
        if timer is None:
            timer = self._latency[key[:2]] = self.latency.labels(self.model, route, method)
        timer.observe(seconds)

    def batch(self, rows: int) -> None:
        self._batch_rows.observe(rows)

    def error(self, route: str, kind: str) -> None:
        self.errors.labels(self.model, route, kind).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
