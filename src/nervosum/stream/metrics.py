"""The stream runtime's Prometheus metrics: messages in / out / dead-lettered, batch sizes,
batch latency, consumer lag, and the same prediction (and live drift) metrics as the
HTTP server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nervosum.config.spec import MetricsSpec
from nervosum.observe.metrics import (
    LATENCY_BUCKETS,
    DriftMetrics,
    PredlogMetrics,
    metrics_prefix,
)
from nervosum.observe.predictions import PredictionMetrics

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class StreamMetrics:
    """One registry for one stream worker."""

    def __init__(self, model: str, spec: MetricsSpec) -> None:
        self.prefix = prefix = metrics_prefix(spec)
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        messages = Counter(
            f"{prefix}_stream_messages",
            "Stream messages by outcome: read, written (outputs), dead_lettered.",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.read = messages.labels(model, "read")
        self.written = messages.labels(model, "written")
        self.dead_lettered = messages.labels(model, "dead_lettered")
        self.batch_size = Histogram(
            f"{prefix}_stream_batch_size",
            "Messages per batch read from the source.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        ).labels(model)
        self.latency = Histogram(
            f"{prefix}_stream_batch_duration_seconds",
            "Time from reading a batch to acknowledging it.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(model)
        self.lag = Gauge(
            f"{prefix}_stream_consumer_lag",
            "Messages in the source not yet delivered to the consumer group.",
            ["model"],
            registry=self.registry,
        ).labels(model)
        self.retries = Counter(
            f"{prefix}_stream_write_retries",
            "Writes to the sink or dead letter that failed and were retried.",
            ["model"],
            registry=self.registry,
        ).labels(model)
        self.predictions = PredictionMetrics(self.registry, prefix, model, spec)
        self.predlog = PredlogMetrics(self.registry, prefix)

    def drift(self) -> DriftMetrics:
        """The live drift gauges, made only for a model with a reference profile, so a
        worker without one exports none of them (as the HTTP server)."""
        return DriftMetrics(self.registry, self.prefix, self.model)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
