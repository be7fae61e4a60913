"""Prometheus alert rules for one model: a plain rules file (``rule_files:`` of a
Prometheus) and the same groups as a ``PrometheusRule`` (the Prometheus Operator's).

Each rule reads the same PromQL as its dashboard panel (``promql.py``). Rules whose
metric a project does not export are left out: drift without a reference,
prediction-log drops without ``logging:``. Annotations are plain text (no templates),
so what fires reads the same in every receiver and tests compare it exactly.

A stream worker is judged on its own families (dead letters, batch latency, lag, a
stalled group); a repository's rules judge every model it serves, one alert per model
(the ``model`` label comes from the series, not from the rule). Its summaries stay plain
text, true of every model: "a model of <repository> (see the model label): ...".
"""

from __future__ import annotations

from typing import Any

from nervosum.deploy import objects, promql
from nervosum.deploy.objects import Object
from nervosum.deploy.promql import Scope
from nervosum.deploy.watch import REPO, STREAM, Watched

API_VERSION = "monitoring.coreos.com/v1"
DOCS = "docs/monitoring.md#dashboards-and-alerts"
# How long a condition holds before the alert fires: long enough to ride out a deploy
# or a burst, short enough to matter. Drift moves slowly; a window of rows refills.
ERRORS_FOR = "5m"
LATENCY_FOR = "10m"
DRIFT_FOR = "30m"
DROPS_FOR = "1m"
DROPS_WINDOW = "10m"
LAG_FOR = "10m"
DRAIN_MINUTES = 10  # a backlog the workers need longer than this to read is a lag


def _rule(
    watched: Watched,
    name: str,
    expr: str,
    *,
    held: str,
    severity: str,
    summary: str,
    per_model: bool = True,
) -> dict[str, Any]:
    """One alert; its ``model`` label names the model even where the query sums it away
    (a repository's alerts take it from their series: one rule watches every model, so
    its summary names the repository and points at the label). ``per_model``: the query
    keeps the ``model`` label (the prediction log's families have none)."""
    repository = watched.runtime == REPO
    labels = {"severity": severity} | ({} if repository else {"model": watched.model})
    subject = watched.model
    if repository and per_model:
        subject = f"a model of {watched.model} (see the model label)"
    return {
        "alert": name,
        "expr": expr,
        "for": held,
        "labels": labels,
        "annotations": {"summary": f"{subject}: {summary}", "runbook": DOCS},
    }


def rules(watched: Watched) -> list[dict[str, Any]]:
    """The rules of ``watched``'s group, in the order docs/monitoring.md explains them."""
    scope = promql.rules_scope(watched)
    limits = watched.alerts
    found = _stream(scope) if watched.runtime == STREAM else _serving(scope)
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
                per_model=False,
            )
        )
    return found


def _failing(scope: Scope, name: str, share: str, what: str) -> dict[str, Any]:
    """A share of failures (``what``) above ``monitoring.alerts.error_rate``."""
    limit = scope.watched.alerts.error_rate
    summary = f"over {limit:.0%} of {what}"
    return _rule(
        scope.watched,
        name,
        f"{share} > {limit}",
        held=ERRORS_FOR,
        severity="critical",
        summary=summary,
    )


def _slow(scope: Scope, name: str, p99: str, what: str) -> dict[str, Any]:
    """A p99 of seconds (``what``) above ``monitoring.alerts.latency_p99``."""
    limit = scope.watched.alerts.latency_p99
    summary = f"p99 {what} over {limit} s"
    return _rule(
        scope.watched,
        name,
        f"{p99} > {limit}",
        held=LATENCY_FOR,
        severity="warning",
        summary=summary,
    )


def _serving(scope: Scope) -> list[dict[str, Any]]:
    """An HTTP server's (one model's, or each model of a repository): 5xx, latency,
    readiness."""
    return [
        _failing(
            scope, "NervosumHighErrorRate", promql.error_ratio(scope), "requests answered 5xx"
        ),
        _slow(scope, "NervosumHighLatency", promql.latency(scope, 0.99), "request latency"),
        _rule(
            scope.watched,
            "NervosumModelNotReady",
            f"{promql.model_ready(scope)} < 1",
            held=scope.watched.alerts.not_ready_for,
            severity="critical",
            summary="the model is not ready to serve",
        ),
    ]


def _stream(scope: Scope) -> list[dict[str, Any]]:
    """A stream worker's, with the same thresholds as its HTTP server's: dead letters
    (its errors), batch latency, lag, and a group that stopped reading (its readiness:
    the worker has no readiness gauge, its side port's /health/ready is for probes)."""
    watched = scope.watched
    return [
        _failing(
            scope,
            "NervosumStreamDeadLetters",
            promql.dead_letter_ratio(scope),
            "messages read went to the dead letter",
        ),
        _slow(
            scope,
            "NervosumStreamSlowBatches",
            promql.batch_latency(scope, 0.99),
            "batch time from read to acknowledgement",
        ),
        _rule(
            watched,
            "NervosumStreamLag",
            promql.backlog(scope, DRAIN_MINUTES),
            held=LAG_FOR,
            severity="warning",
            summary=f"the messages waiting take the workers over {DRAIN_MINUTES} minutes to read",
        ),
        _rule(
            watched,
            "NervosumStreamStalled",
            promql.stalled(scope),
            held=watched.alerts.not_ready_for,
            severity="critical",
            summary="messages wait and no worker reads them",
        ),
    ]


def rule_groups(watched: Watched) -> dict[str, Any]:
    """The ``groups:`` document of a rules file."""
    return {"groups": [{"name": f"nervosum-{watched.name}", "rules": rules(watched)}]}


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
