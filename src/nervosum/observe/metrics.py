"""Prometheus metrics for served models: requests, errors and latency per route, the
batcher, the model (build info, load time, call time) and its predictions.

Each app owns its registry (no global state), so several models or test apps in one
process never share counters. Labels are bounded: routes are the declared route
templates (unknown paths count as ``other``), predicted values are the model's classes
(or the first ``metrics.max_classes`` values seen, then ``other``), never raw paths or
regressor outputs.

With several worker processes, prometheus_client's multiprocess mode makes ``/metrics``
in any worker report the sum over all of them: :func:`share_across_processes` switches
it on in the supervisor before it forks.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from nervosum.config.spec import METRIC_NAME, MetricsSpec
from nervosum.errors import ConfigError, ConfigIssue
from nervosum.observe.feedback import FeedbackTracker
from nervosum.observe.memory import process_memory
from nervosum.observe.predictions import PROCESSING_BUCKETS, PredictionMetrics

# How often the live gauges are written from their counts (and before every scrape).
SAMPLE_SECONDS = 0.25
MEMORY_EVERY = 5.0  # seconds between two reads of the process memory (/proc)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST
DEFAULT_PREFIX = "nervosum"
# Where the prefix may come from besides nervosum.yaml, in order; the second is the
# variable nachlass (seed 002) read, so its users' deployments keep their metric names.
PREFIX_VARIABLES = ("NERVOSUM_METRICS_PREFIX", "S2I_APP_METRICS_PREFIX")
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def metrics_prefix(spec: MetricsSpec) -> str:
    """``metrics.prefix``, else the first prefix variable set, else ``nervosum``."""
    if spec.prefix:
        return spec.prefix
    for variable in PREFIX_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        if not re.fullmatch(METRIC_NAME, value):
            issue = ConfigIssue(
                variable,
                f"{value!r} is not a Prometheus metric name",
                hint="letters, digits, _ and :, not starting with a digit",
            )
            raise ConfigError("environment", [issue])
        return value
    return DEFAULT_PREFIX


def share_across_processes(directory: Path) -> None:
    """Make metrics created from now on, here and in forked children, live in files under
    ``directory``, summed at scrape time (prometheus_client's multiprocess mode).

    prometheus_client picks where values live when it is imported; the worker count is
    only known once the config is read, so the choice is made again here, before any
    metric exists (the supervisor calls this before it forks).
    """
    from prometheus_client import values

    os.environ[MULTIPROCESS_DIR] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def process_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (in-flight requests, queue) from the sums."""
    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class PredlogMetrics:
    """The prediction log's counters per sink, for every runtime that logs (HTTP, stream);
    ``dropped`` and ``written`` are the log writers' callbacks."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self._dropped = Counter(
            f"{prefix}_predlog_dropped",
            "Prediction log records a sink could not take (full buffer, sink down).",
            ["sink"],
            registry=registry,
        )
        self._written = Counter(
            f"{prefix}_predlog_written",
            "Prediction log records written, by sink.",
            ["sink"],
            registry=registry,
        )

    def opened(self, sink: str) -> None:
        """A sink's series at 0 from its start: the first drops are then an increase an
        alert can see (a counter born at its first drop has no earlier sample)."""
        self._dropped.labels(sink)
        self._written.labels(sink)

    def dropped(self, sink: str, count: int) -> None:
        self._dropped.labels(sink).inc(count)

    def written(self, sink: str, count: int) -> None:
        self._written.labels(sink).inc(count)


class AuthMetrics:
    """Refused authentications, by a bounded ``reason`` (missing, invalid_key,
    invalid_token, insufficient_scope, rate_limited); every server registers it."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self._failures = Counter(
            f"{prefix}_auth_failures",
            "Requests refused by authentication, by reason.",
            ["reason"],
            registry=registry,
        )

    def failed(self, reason: str) -> None:
        self._failures.labels(reason).inc()


class GrpcMetrics:
    """A gRPC server's calls, by method and status code, and their latency: the gRPC
    counterpart of the ``http_*`` families, in the same registry."""

    def __init__(self, registry: CollectorRegistry, prefix: str, model: str) -> None:
        self.model = model
        self.calls = Counter(
            f"{prefix}_grpc_requests",
            "gRPC calls answered, by method and status code.",
            ["model", "method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{prefix}_grpc_request_duration_seconds",
            "Time from a gRPC call's start to its answer, by method.",
            ["model", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            f"{prefix}_grpc_errors",
            "gRPC calls answered with an error, by method and error type.",
            ["model", "method", "type"],
            registry=registry,
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, code: str, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:
            children = self._children[(method, code)] = (
                self.calls.labels(self.model, method, code),
                self.latency.labels(self.model, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    def error(self, method: str, kind: str) -> None:
        self.errors.labels(self.model, method, kind).inc()


class ExplainMetrics:
    """``POST /explain`` (docs/monitoring.md): rows explained by method, and how long
    each explanation took (a sampled one samples less to stay within its budget)."""

    def __init__(self, registry: CollectorRegistry, prefix: str, model: str) -> None:
        self.model = model
        self._rows = Counter(
            f"{prefix}_explained_rows",
            "Rows explained, by method (treeshap:* exact, sampled:* estimated).",
            ["model", "method"],
            registry=registry,
        )
        self._seconds = Histogram(
            f"{prefix}_explain_seconds",
            "Time of each explanation, its wait for the model thread included.",
            ["model"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        ).labels(model)

    def observe(self, method: str, rows: int, seconds: float) -> None:
        self._rows.labels(self.model, method).inc(rows)
        self._seconds.observe(seconds)


class DriftMetrics:
    """Live drift against the reference profile (docs/monitoring.md, "Live drift"): PSI
    per feature and of the predictions, and the shares of out-of-range numbers and unseen
    categories, over each worker's window (``liveall``: one series per worker pid). Made
    only for a model with a reference, so a model without one exports none of them."""

    def __init__(self, registry: CollectorRegistry, prefix: str, model: str) -> None:
        self.model = model

        def gauge(name: str, text: str, labels: list[str]) -> Gauge:
            return Gauge(
                f"{prefix}_{name}",
                text,
                labels,
                multiprocess_mode="liveall",
                registry=registry,
            )

        self._feature = gauge(
            "feature_drift",
            "PSI of each feature over the window against the reference (>0.25: major).",
            ["model", "feature"],
        )
        self._prediction = gauge(
            "prediction_drift",
            "PSI of the predictions over the window against those on the reference.",
            ["model"],
        )
        self._out_of_range = gauge(
            "feature_out_of_range",
            "Share of a numeric feature's values outside the reference's min..max.",
            ["model", "feature"],
        )
        self._unseen = gauge(
            "feature_unseen",
            "Share of a categorical feature's values the reference never had.",
            ["model", "feature"],
        )

    def publish(self, report: dict[str, Any]) -> None:
        """Set every gauge from a window's report; a figure not known yet is NaN."""

        def known(value: float | None) -> float:
            return float("nan") if value is None else value

        for feature, figures in report["features"].items():
            self._feature.labels(self.model, feature).set(known(figures["psi"]))
            if "out_of_range" in figures:
                gauge, value = self._out_of_range, figures["out_of_range"]
            else:
                gauge, value = self._unseen, figures["unseen"]
            gauge.labels(self.model, feature).set(known(value))
        if report["prediction"] is not None:
            self._prediction.labels(self.model).set(known(report["prediction"]["psi"]))

    def clear(self) -> None:
        """Remove every series: the model now serving has no reference."""
        for gauge in (self._feature, self._prediction, self._out_of_range, self._unseen):
            gauge.clear()


class ArmMetrics:
    """Champion and challenger served together (docs/variants.md): answers and errors per
    arm, shadow copies dropped, and how often the arms agree on shadowed rows."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self._predictions = Counter(
            f"{prefix}_arm_predictions",
            "Rows answered per arm (a shadow copy counts for the challenger), by model.",
            ["arm", "model", "tag"],
            registry=registry,
        )
        self._errors = Counter(
            f"{prefix}_arm_errors",
            "Model calls that failed per arm (in shadow: never seen by the client).",
            ["arm"],
            registry=registry,
        )
        self._dropped = Counter(
            f"{prefix}_shadow_dropped",
            "Shadow copies dropped because the challenger's queue was full.",
            registry=registry,
        )
        self._answered: dict[tuple[str, str, str], Any] = {}
        self._quality = Gauge(
            f"{prefix}_arm_quality",
            "Each arm's live quality from feedback over the feedback window, by figure"
            " (accuracy, log_loss, auc; mae, rmse) and model.",
            ["arm", "model", "tag", "figure"],
            multiprocess_mode="liveall",
            registry=registry,
        )
        self._agreement = Gauge(
            f"{prefix}_arm_agreement",
            "Share of shadowed rows the challenger predicted as the champion did.",
            multiprocess_mode="liveall",
            registry=registry,
        )

    def quality(self, arm: str, model: str, tag: str, figures: dict[str, Any]) -> None:
        """Set an arm's figures; one not known (now) is NaN, not its last value."""
        for figure, value in figures.items():
            if figure != "labels":
                known = float("nan") if value is None else value
                self._quality.labels(arm, model, tag, figure).set(known)

    def answered(self, arm: str, model: str, tag: str, rows: int) -> None:
        key = (arm, model, tag)
        child = self._answered.get(key)
        if child is None:  # a label lookup costs more than the increment
            child = self._answered[key] = self._predictions.labels(*key)
        child.inc(rows)

    def failed(self, arm: str) -> None:
        self._errors.labels(arm).inc()

    def dropped(self) -> None:
        self._dropped.inc()

    def agreement(self, share: float) -> None:
        self._agreement.set(share)


class RequestMetrics:
    """An HTTP server's traffic: requests, errors, latency, requests in flight and refused
    authentications, in a registry of its own (every nervosum server's front door counts
    into one). ``model`` labels them: the model's name, a graph's, the fleet's base."""

    def __init__(self, model: str, spec: MetricsSpec | None = None) -> None:
        spec = spec or MetricsSpec()
        self.prefix = prefix = metrics_prefix(spec)
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
            multiprocess_mode="livesum",
            registry=self.registry,
        ).labels(model)
        self.auth = AuthMetrics(self.registry, prefix)
        # Label lookups cost more than the increments; children are cached per label set.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}
        # Requests in flight, counted as a plain number on the request path (a gauge write
        # costs ~0.8 µs in multiprocess mode) and written by :meth:`sample`.
        self.requests_in_flight = 0
        self._flying = 0

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

    def error(self, route: str, kind: str) -> None:
        self.errors.labels(self.model, route, kind).inc()

    @functools.cached_property
    def arms(self) -> ArmMetrics:
        """The champion and challenger families, made when a server serves both."""
        return ArmMetrics(self.registry, self.prefix)

    @functools.cached_property
    def grpc(self) -> GrpcMetrics:
        """The gRPC calls' families, made when a gRPC server first counts one."""
        return GrpcMetrics(self.registry, self.prefix, self.model)

    def sample(self) -> None:
        """Write the live gauges from their counts, if they changed."""
        if self.requests_in_flight != self._flying:
            self._flying = self.requests_in_flight
            self.in_flight.set(self._flying)

    def exposition(self) -> bytes:
        """The text format: this app's registry, or every worker's values summed (this
        worker's live gauges as of now, the others' as of their last sample)."""
        self.sample()
        directory = os.environ.get(MULTIPROCESS_DIR)
        if not directory:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


class HttpMetrics(RequestMetrics):
    """A model server's metric families: its traffic, and the model (ready, build, load
    and compile figures, the batcher, predictions, feedback, the prediction log)."""

    def __init__(self, model: str, spec: MetricsSpec | None = None) -> None:
        spec = spec or MetricsSpec()
        super().__init__(model, spec)
        prefix = self.prefix
        self.batch_rows = Histogram(
            f"{prefix}_batch_size",
            "Rows per model call made by the adaptive batcher.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        ).labels(model)
        self.queue_rows = Gauge(
            f"{prefix}_batch_queue_rows",
            "Rows waiting for the model in the adaptive batcher.",
            ["model"],
            multiprocess_mode="livesum",
            registry=self.registry,
        ).labels(model)
        self.ready = Gauge(
            f"{prefix}_model_ready",
            "1 once the model is loaded and serving, else 0.",
            ["model"],
            multiprocess_mode="livemin",
            registry=self.registry,
        ).labels(model)
        self.ready.set(0)
        self.build_info = Gauge(
            f"{prefix}_build_info",
            "Always 1: the served model's name, tag and uuid, what runs it (python,"
            " onnxruntime x.y, xgboost x.y, ...) and nervosum's version.",
            ["model", "tag", "uuid", "runtime", "nervosum_version"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            f"{prefix}_model_load_seconds",
            "Time the model took to load.",
            ["model"],
            multiprocess_mode="livemax",
            registry=self.registry,
        ).labels(model)
        self.compile_seconds = Gauge(
            f"{prefix}_model_compile_seconds",
            "Time converting the model file to ONNX took (0 when read from the cache).",
            ["model"],
            multiprocess_mode="livemax",
            registry=self.registry,
        ).labels(model)
        self.compile_difference = Gauge(
            f"{prefix}_model_compile_max_difference",
            "Largest difference between the compiled model and the original on the"
            " reference rows: absolute for probabilities, relative for values.",
            ["model", "measure"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.predictions = PredictionMetrics(self.registry, prefix, model, spec)
        self.feedback = FeedbackTracker(self.registry, prefix, model, spec.feedback_window)
        self.predlog = PredlogMetrics(self.registry, prefix)
        self.explained = ExplainMetrics(self.registry, prefix, model)
        # This process's memory (RSS counts shared pages in full, PSS shares them out),
        # read every MEMORY_EVERY seconds by the sampler: with workers, one series a pid.
        self.memory = Gauge(
            f"{prefix}_process_memory_bytes",
            "Memory of this serving process: rss (shared pages counted in full) and pss"
            " (shared pages split between their users).",
            ["model", "kind"],
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self._memory_read = -math.inf
        # The batcher's queue, read when the gauge is written (see :meth:`sample`).
        self.queued_rows: Callable[[], int] = lambda: 0
        self._queued = 0
        # Live drift's refresh (serving/state.py), run by every sample; it rate-limits
        # itself to about once a second.
        self.refresh_drift: Callable[[], None] = lambda: None

    def loaded(
        self,
        tag: str,
        uuid: str,
        load_seconds: float,
        runtime: str = "python",
        compile_info: dict[str, Any] | None = None,
    ) -> None:
        """The model is serving: build info, load time, what compiling found, ready."""
        from nervosum import __version__

        self.build_info.labels(self.model, tag, uuid, runtime, __version__).set(1)
        self.load_seconds.set(load_seconds)
        if compile_info:
            self.compile_seconds.set(compile_info.get("convert_seconds") or 0)
            check = compile_info.get("check") or {}
            for measure, key in (
                ("probability", "max_probability_diff"),
                ("value", "max_value_rel_diff"),
            ):
                figure = check.get(key)
                if figure is not None:
                    self.compile_difference.labels(self.model, measure).set(figure)
        self.ready.set(1)

    @functools.cached_property
    def drift(self) -> DriftMetrics:
        """The live drift families, made when a model with a reference profile serves."""
        return DriftMetrics(self.registry, self.prefix, self.model)

    def drift_from(self, refresh: Callable[[], None] | None) -> None:
        """Refresh live drift with ``refresh`` from now on (the version of the model that
        now serves); without one, the series of a version it replaced go."""
        self.refresh_drift = refresh or (lambda: None)
        if refresh is None and "drift" in self.__dict__:
            self.drift.clear()

    def sample(self) -> None:
        """Write the in-flight and queue gauges from their counts, if they changed, and
        let live drift refresh its figures."""
        super().sample()
        self.refresh_drift()
        now = time.monotonic()
        if now - self._memory_read >= MEMORY_EVERY:
            self._memory_read = now
            found = process_memory(os.getpid())
            for kind in ("rss", "pss"):
                value = found[f"{kind}_bytes"]
                if value is not None:
                    self.memory.labels(self.model, kind).set(value)
        queued = self.queued_rows()
        if queued != self._queued:
            self._queued = queued
            self.queue_rows.set(queued)


async def keep_sampled(metrics: Callable[[], Iterable[RequestMetrics]]) -> None:
    """Write the live gauges every :data:`SAMPLE_SECONDS` until cancelled (the app's
    lifespan runs it), so a scrape served by another worker sees this one's."""
    import asyncio

    while True:
        for each in metrics():
            each.sample()
        await asyncio.sleep(SAMPLE_SECONDS)
