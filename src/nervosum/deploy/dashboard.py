"""A Grafana dashboard for one model, as importable JSON (Dashboards > New > Import).

Its ``datasource`` variable picks the Prometheus that scrapes the server and its
``model`` variable the served models (by the ``model`` label); every panel reads the
project's metric prefix. Panels are chosen from the project's config (``watch.py``), so
none waits for a family the server never exports: classes or a value histogram, drift
with a reference, feedback quality per arm with a challenger, the prediction log with
``logging:``. The queries are ``promql.py``'s, the alert rules' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nervosum.deploy import promql
from nervosum.deploy.promql import Scope
from nervosum.deploy.watch import CLASSES, HISTOGRAM, Watched

SCHEMA_VERSION = 39  # Grafana 10's dashboard model; older and newer versions import it
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH, HEIGHT = 12, 8  # two panels a row on Grafana's 24-column grid
QUANTILES = (0.5, 0.95, 0.99)


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
    found = _serving(scope)
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


def _serving(scope: Scope) -> list[Panel]:
    """Traffic, latency, errors, readiness and the batcher: every server has these."""
    latency = tuple((promql.latency(scope, q), f"p{round(q * 100)}") for q in QUANTILES)
    batch_mean = (
        f"{scope.rate('batch_size_sum')} / {scope.rate('batch_size_count')}",
        "mean rows per call",
    )
    return [
        Panel(
            "Requests/s by route and status",
            "Requests answered per second.",
            "reqps",
            ((scope.rate("http_requests_total", "route, status"), "{{route}} {{status}}"),),
        ),
        Panel("Latency", "Request latency, first byte in to last byte out.", "s", latency),
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
            "Batch size", "Rows per model call made by the adaptive batcher.", "none", (batch_mean,)
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
                    f"max by (instance, pid, kind) ({scope.series('process_memory_bytes')})",
                    "{{instance}} {{pid}} {{kind}}",
                ),
            ),
        ),
    ]


def _classes(scope: Scope) -> list[Panel]:
    """A classifier (or text / integer answers): predictions per class, accuracy."""
    accuracy = f"avg by (model) ({scope.series('feedback_accuracy')})"
    return [
        Panel(
            "Predictions/s per class",
            "Predictions per second by predicted class.",
            "reqps",
            ((scope.rate("predictions_total", "value"), "{{value}}"),),
        ),
        Panel(
            "Feedback accuracy",
            "Share of correct predictions over the latest labelled ones (POST /feedback).",
            "percentunit",
            ((accuracy, "accuracy"),),
        ),
    ]


def _values(scope: Scope) -> list[Panel]:
    """A regressor: the predicted values' distribution, mean absolute error."""
    mae = f"avg by (model) ({scope.series('feedback_mae')})"
    return [
        Panel(
            "Predicted values",
            "How many predictions fell in each bucket of metrics.buckets, per second.",
            "short",
            ((scope.rate("predictions_bucket", "le"), "{{le}}"),),
            kind="heatmap",
        ),
        Panel(
            "Feedback MAE",
            "Mean absolute error over the latest labelled predictions (POST /feedback).",
            "short",
            ((mae, "MAE"),),
        ),
    ]


def _drift(scope: Scope) -> list[Panel]:
    """Live drift against monitoring.reference (the worst worker's window)."""
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
                    f"max by (feature) ({scope.series('feature_out_of_range')})",
                    "{{feature}} out of range",
                ),
                (f"max by (feature) ({scope.series('feature_unseen')})", "{{feature}} unseen"),
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
        "description": f"nervosum: {watched.model}, metrics {watched.prefix}_*",
        "editable": True,
        "panels": [_json(panel, index) for index, panel in enumerate(panels(watched))],
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["nervosum"],
        "templating": {"list": _variables(watched)},
        "time": {"from": "now-6h", "to": "now"},
        "title": f"nervosum: {watched.model}",
        "uid": _uid(watched.model),
    }


def _variables(watched: Watched) -> list[dict[str, Any]]:
    query = f"label_values({watched.metric('model_ready')}, model)"
    return [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
        {
            "name": "model",
            "label": "Model",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": query, "refId": "model"},
            "definition": query,
            "current": {"text": watched.model, "value": watched.model},
            "includeAll": True,
            "multi": True,
            "refresh": 2,
        },
    ]


def _json(panel: Panel, index: int) -> dict[str, Any]:
    targets = [
        {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + n)}
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


def _uid(model: str) -> str:
    """Grafana's uid: at most 40 characters of letters, digits, - and _."""
    cleaned = "".join(char if char.isalnum() or char in "-_" else "-" for char in model)
    return f"nervosum-{cleaned}"[:40]
