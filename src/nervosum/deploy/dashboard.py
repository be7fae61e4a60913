"""A Grafana dashboard for one model, as importable JSON (Dashboards > New > Import).

Its ``datasource`` variable picks the Prometheus that scrapes the server and its
``model`` variable the served models (by the ``model`` label); every panel reads the
project's metric prefix. Panels are chosen from the project's config (``watch.py``), so
none waits for a family the server never exports: classes or a value histogram, drift
with a reference, feedback quality per arm with a challenger, the prediction log with
``logging:``. The queries are ``promql.py``'s, the alert rules' own.

A stream worker's dashboard swaps the HTTP panels for its messages, batches and lag
(and has no feedback or arms); a repository's shows every model it serves, each line
named after its model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nervosum.deploy import promql
from nervosum.deploy.promql import Scope
from nervosum.deploy.watch import CLASSES, HISTOGRAM, REPO, SERVER, STREAM, Watched

SCHEMA_VERSION = 39  # Grafana 10's dashboard model; older and newer versions import it
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH, HEIGHT = 12, 8  # two panels a row on Grafana's 24-column grid
QUANTILES = (0.5, 0.95, 0.99)
UID_PREFIX = "nervosum-"
UID_LENGTH = 40  # Grafana refuses a longer uid
UID_HASH = 8  # hex digits of a long name's hash: its uid's tell-apart


@dataclass(frozen=True)
class Panel:
    """One panel: its queries (PromQL and legend) and how values read."""

    title: str
    description: str
    unit: str
    queries: tuple[tuple[str, str], ...]
    kind: str = "timeseries"


def panels(watched: Watched) -> list[Panel]:
    """Every panel that applies to ``watched``, in reading order."""
    scope = promql.dashboard_scope(watched)
    found = _stream(scope) if watched.runtime == STREAM else _serving(scope)
    if CLASSES in watched.predictions:
        found += _classes(scope)
    if HISTOGRAM in watched.predictions:
        found += _values(scope)
    if watched.drift:
        found += _drift(scope)
    if watched.arms:
        found += _arms(scope)
    if watched.logging:
        found += _log(scope)
    return found


def _percentiles(title: str, description: str, quantile: Callable[[float], str]) -> Panel:
    """A panel of a histogram's p50, p95 and p99, seconds."""
    return Panel(
        title, description, "s", tuple((quantile(q), f"p{round(q * 100)}") for q in QUANTILES)
    )


def _mean(scope: Scope, histogram: str, legend: str) -> tuple[str, str]:
    """A histogram's mean over the window, as a query and its legend."""
    return f"{scope.rate(histogram + '_sum')} / {scope.rate(histogram + '_count')}", legend


def _serving(scope: Scope) -> list[Panel]:
    """Traffic, latency, errors, readiness and the batcher: every server has these."""
    return [
        Panel(
            "Requests/s by route and status",
            "Requests answered per second.",
            "reqps",
            ((scope.rate("http_requests_total", "route, status"), "{{route}} {{status}}"),),
        ),
        _percentiles(
            "Latency",
            "Request latency, first byte in to last byte out.",
            lambda q: promql.latency(scope, q),
        ),
        Panel(
            "Errors/s by type",
            "Error answers per second by error type (invalid_input, prediction_failed, ...).",
            "reqps",
            ((scope.rate("http_errors_total", "type"), "{{type}}"),),
        ),
        Panel(
            "Model ready",
            "1 once the model serves (with workers: once all do).",
            "none",
            ((promql.model_ready(scope), "{{model}}"),),
            kind="stat",
        ),
        Panel(
            "Batch size",
            "Rows per model call made by the adaptive batcher.",
            "none",
            (_mean(scope, "batch_size", "mean rows per call"),),
        ),
        Panel(
            "Queue and requests in flight",
            "Rows waiting for the model and requests being processed, over all workers.",
            "none",
            (
                (f"sum by (model) ({scope.series('batch_queue_rows')})", "queued rows"),
                (f"sum by (model) ({scope.series('http_requests_in_flight')})", "in flight"),
            ),
        ),
        Panel(
            "Worker memory",
            "Each serving process's memory: RSS counts pages shared with the other workers"
            " in full, PSS splits them (their sum is what the workers take together).",
            "bytes",
            (
                (
                    f"max by (model, instance, pid, kind) ({scope.series('process_memory_bytes')})",
                    "{{instance}} {{pid}} {{kind}}",
                ),
            ),
        ),
    ]


def _stream(scope: Scope) -> list[Panel]:
    """Messages, batches and the consumer group's lag: every stream worker has these."""
    return [
        Panel(
            "Messages/s by outcome",
            "Messages read from the source, outputs written to the sink, messages"
            " dead-lettered (unparsable, invalid, failed), per second.",
            "short",
            ((scope.rate("stream_messages_total", "outcome"), "{{outcome}}"),),
        ),
        Panel(
            "Dead-lettered share",
            "Share of the messages read that went to the dead letter.",
            "percentunit",
            ((promql.dead_letter_ratio(scope), "dead-lettered"),),
        ),
        _percentiles(
            "Batch latency",
            "A batch's time from read to acknowledgement (parse, predict, write).",
            lambda q: promql.batch_latency(scope, q),
        ),
        Panel(
            "Consumer lag",
            "Messages in the source not yet given to the consumer group.",
            "short",
            ((promql.consumer_lag(scope), "lag"),),
        ),
        Panel(
            "Batch size",
            "Messages per batch read from the source.",
            "none",
            (_mean(scope, "stream_batch_size", "mean messages per batch"),),
        ),
        Panel(
            "Write retries/s",
            "Writes to the sink or the dead letter that failed and were retried.",
            "short",
            ((scope.rate("stream_write_retries_total"), "retries"),),
        ),
        _percentiles(
            "Model call time",
            "Time of each model call (one a batch).",
            lambda q: scope.quantile(q, "processing_seconds"),
        ),
    ]


def _feedback(scope: Scope, figure: str, title: str, description: str, unit: str) -> list[Panel]:
    """A feedback figure's panel (the mean over workers): only ``nervosum serve`` takes
    feedback (a stream worker and serve-repo have no ``/feedback``)."""
    if scope.watched.runtime != SERVER:
        return []
    query = f"avg by (model) ({scope.series('feedback_' + figure)})"
    return [Panel(title, description, unit, ((query, figure),))]


def _classes(scope: Scope) -> list[Panel]:
    """A classifier (or text / integer answers): predictions per class, accuracy."""
    counted = Panel(
        "Predictions/s per class",
        "Predictions per second by predicted class.",
        "reqps",
        ((scope.rate("predictions_total", "value"), "{{value}}"),),
    )
    accuracy = _feedback(
        scope,
        "accuracy",
        "Feedback accuracy",
        "Share of correct predictions over the latest labelled ones (POST /feedback).",
        "percentunit",
    )
    return [counted, *accuracy]


def _values(scope: Scope) -> list[Panel]:
    """A regressor: the predicted values' distribution, mean absolute error."""
    heatmap = Panel(
        "Predicted values",
        "How many predictions fell in each bucket of metrics.buckets, per second.",
        "short",
        ((scope.rate("predictions_bucket", "le"), "{{le}}"),),
        kind="heatmap",
    )
    mae = _feedback(
        scope,
        "mae",
        "Feedback MAE",
        "Mean absolute error over the latest labelled predictions (POST /feedback).",
        "short",
    )
    return [heatmap, *mae]


def _drift(scope: Scope) -> list[Panel]:
    """Live drift against the reference profile (the worst worker's window)."""
    return [
        Panel(
            "Feature drift (PSI)",
            "Below 0.1: none, up to 0.25: moderate, above: major.",
            "none",
            ((promql.feature_drift(scope), "{{feature}}"),),
        ),
        Panel(
            "Prediction drift (PSI)",
            "The predictions against the model's on the reference.",
            "none",
            ((promql.prediction_drift(scope), "prediction"),),
        ),
        Panel(
            "Out of range and unseen",
            "Share of numeric values outside the reference's range; of text values it never had.",
            "percentunit",
            (
                (
                    f"max by (model, feature) ({scope.series('feature_out_of_range')})",
                    "{{feature}} out of range",
                ),
                (
                    f"max by (model, feature) ({scope.series('feature_unseen')})",
                    "{{feature}} unseen",
                ),
            ),
        ),
    ]


def _arms(scope: Scope) -> list[Panel]:
    """Champion and challenger: traffic and graded quality per arm."""
    return [
        Panel(
            "Predictions/s per arm",
            "Predictions each arm made (a shadow challenger scores copies).",
            "reqps",
            ((scope.rate("arm_predictions_total", "arm, tag"), "{{arm}} {{tag}}"),),
        ),
        Panel(
            "Quality per arm",
            "Each arm's figures over its labelled predictions (accuracy, log loss, AUC;"
            " MAE, RMSE).",
            "short",
            (
                (
                    f"max by (arm, tag, figure) ({scope.series('arm_quality')})",
                    "{{arm}} {{tag}} {{figure}}",
                ),
            ),
        ),
    ]


def _log(scope: Scope) -> list[Panel]:
    """The prediction log's sinks (their families carry no model label)."""
    metric = scope.watched.metric
    return [
        Panel(
            "Prediction log",
            "Records written and dropped per second by each sink; any drop leaves a gap.",
            "short",
            (
                (
                    f"sum by (sink) (rate({metric('predlog_written_total')}[{scope.window}]))",
                    "{{sink}} written",
                ),
                (
                    f"sum by (sink) (rate({metric('predlog_dropped_total')}[{scope.window}]))",
                    "{{sink}} dropped",
                ),
            ),
        ),
    ]


def dashboard(watched: Watched) -> dict[str, Any]:
    """The dashboard's JSON model."""
    return {
        "annotations": {"list": []},
        "description": f"nervosum: {watched.name}, metrics {watched.prefix}_*",
        "editable": True,
        "panels": [
            _json(panel, index, named=watched.runtime == REPO)
            for index, panel in enumerate(panels(watched))
        ],
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["nervosum"],
        "templating": {"list": _variables(watched)},
        "time": {"from": "now-6h", "to": "now"},
        "title": f"nervosum: {watched.name}",
        "uid": _uid(watched),
    }


def _variables(watched: Watched) -> list[dict[str, Any]]:
    """The data source, and the models: those a worker counts messages for, or that have
    a readiness gauge (a repository's all preselected, else the project's model)."""
    listed = "stream_messages_total" if watched.runtime == STREAM else "model_ready"
    query = f"label_values({watched.metric(listed)}, model)"
    current = (
        {"text": "All", "value": "$__all"}
        if watched.runtime == REPO
        else {"text": watched.model, "value": watched.model}
    )
    return [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
        {
            "name": "model",
            "label": "Model",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": query, "refId": "model"},
            "definition": query,
            "current": current,
            "includeAll": True,
            "multi": True,
            "refresh": 2,
        },
    ]


def _json(panel: Panel, index: int, *, named: bool = False) -> dict[str, Any]:
    """The panel's JSON; ``named``: each legend starts with its model (a repository's
    panels show several)."""
    targets = [
        {
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": _legend(expr, legend, named),
            "refId": chr(65 + n),
        }
        | ({"format": "heatmap"} if panel.kind == "heatmap" else {})
        for n, (expr, legend) in enumerate(panel.queries)
    ]
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": HEIGHT, "w": WIDTH, "x": (index % 2) * WIDTH, "y": (index // 2) * HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": targets,
    }


def _legend(expr: str, legend: str, named: bool) -> str:
    """``legend``, after the model's name where the query keeps the ``model`` label (the
    prediction log's families have none)."""
    keeps = "by (model" in expr and "{{model}}" not in legend
    return f"{{{{model}}}} {legend}" if named and keeps else legend


def _uid(watched: Watched) -> str:
    """Grafana's uid: at most 40 characters of letters, digits, - and _. A longer one is
    cut in the model's name, never in the runtime's suffix (a model's server, stream and
    repository dashboards would overwrite each other), and ends the name with a hash of
    all of it (two long names that start alike would too)."""
    cleaned = "".join(char if char.isalnum() or char in "-_" else "-" for char in watched.model)
    uid = f"{UID_PREFIX}{cleaned}{watched.suffix}"
    if len(uid) <= UID_LENGTH:
        return uid
    digest = hashlib.sha256(watched.model.encode()).hexdigest()[:UID_HASH]
    room = UID_LENGTH - len(f"{UID_PREFIX}-{digest}{watched.suffix}")
    return f"{UID_PREFIX}{cleaned[:room].rstrip('-_')}-{digest}{watched.suffix}"
