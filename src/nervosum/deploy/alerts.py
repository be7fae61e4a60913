"""Prometheus alert rules for one model: a plain rules file (``rule_files:`` of a
Prometheus) and the same groups as a ``PrometheusRule`` (the Prometheus Operator's).

Each rule reads the same PromQL as its dashboard panel (``promql.py``). Rules whose
metric a project does not export are left out: drift without ``monitoring.reference``,
prediction-log drops without ``logging:``. Annotations are plain text (no templates),
so what fires reads the same in every receiver and tests compare it exactly.
"""

from __future__ import annotations

from typing import Any

from nervosum.deploy import objects, promql
from nervosum.deploy.objects import Object
from nervosum.deploy.watch import Watched

API_VERSION = "monitoring.coreos.com/v1"
DOCS = "docs/monitoring.md#dashboards-and-alerts"
# How long a condition holds before the alert fires: long enough to ride out a deploy
# or a burst, short enough to matter. Drift moves slowly; a window of rows refills.
ERRORS_FOR = "5m"
LATENCY_FOR = "10m"
DRIFT_FOR = "30m"
DROPS_FOR = "1m"
DROPS_WINDOW = "10m"


def _rule(
    watched: Watched, name: str, expr: str, *, held: str, severity: str, summary: str
) -> dict[str, Any]:
    """One alert; its ``model`` label names the model even where the query sums it away."""
    return {
        "alert": name,
        "expr": expr,
        "for": held,
        "labels": {"model": watched.model, "severity": severity},
        "annotations": {"summary": f"{watched.model}: {summary}", "runbook": DOCS},
    }


def rules(watched: Watched) -> list[dict[str, Any]]:
    """The rules of ``watched``'s group, in the order docs/monitoring.md explains them."""
    scope = promql.rules_scope(watched)
    limits = watched.alerts
    found = [
        _rule(
            watched,
            "NervosumHighErrorRate",
            f"{promql.error_ratio(scope)} > {limits.error_rate}",
            held=ERRORS_FOR,
            severity="critical",
            summary=f"over {limits.error_rate:.0%} of requests answered 5xx",
        ),
        _rule(
            watched,
            "NervosumHighLatency",
            f"{promql.latency(scope, 0.99)} > {limits.latency_p99}",
            held=LATENCY_FOR,
            severity="warning",
            summary=f"p99 request latency over {limits.latency_p99} s",
        ),
        _rule(
            watched,
            "NervosumModelNotReady",
            f"{promql.model_ready(scope)} < 1",
            held=limits.not_ready_for,
            severity="critical",
            summary="the model is not ready to serve",
        ),
    ]
    if watched.drift:
        found += [
            _rule(
                watched,
                "NervosumFeatureDrift",
                f"{promql.feature_drift(scope)} > {limits.drift}",
                held=DRIFT_FOR,
                severity="warning",
                summary=f"an input feature drifted from the reference (PSI over {limits.drift})",
            ),
            _rule(
                watched,
                "NervosumPredictionDrift",
                f"{promql.prediction_drift(scope)} > {limits.drift}",
                held=DRIFT_FOR,
                severity="warning",
                summary=f"the predictions drifted from the reference's (PSI over {limits.drift})",
            ),
        ]
    if watched.logging:
        found.append(
            _rule(
                watched,
                "NervosumPredictionLogDrops",
                f"{promql.log_drops(watched, DROPS_WINDOW)} > 0",
                held=DROPS_FOR,
                severity="warning",
                summary="prediction-log records were dropped (the log is incomplete)",
            )
        )
    return found


def rule_groups(watched: Watched) -> dict[str, Any]:
    """The ``groups:`` document of a rules file."""
    return {"groups": [{"name": f"nervosum-{watched.model}", "rules": rules(watched)}]}


def rule_object(watched: Watched, values: dict[str, Any]) -> Object:
    """The groups as a PrometheusRule among a deployment's objects (the chart's values
    name and label it as they do the Deployment)."""
    labels = objects.labels(values["name"], values["label"])
    return {
        "apiVersion": API_VERSION,
        "kind": "PrometheusRule",
        "metadata": objects.metadata(values["name"], values["namespace"], labels),
        "spec": rule_groups(watched),
    }
