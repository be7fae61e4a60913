"""The PromQL the dashboard and the alert rules share, so a panel shows exactly what its
alert judges. A :class:`Scope` picks the model: Grafana's ``$model`` variable in the
dashboard, the model's own name in the rules, any model in a repository's rules (each
query keeps the ``model`` label, so one rule judges every model of a serve-repo apart).

Per-worker gauges (docs/observability.md: with ``--workers N`` the live gauges carry a
``pid`` label) are folded with ``max``/``min``/``sum``/``avg`` by their other labels, so a
query answers the same for one worker or many.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nervosum.deploy.watch import REPO, Watched

# Latency and the error ratio leave out Prometheus' own scrapes, Kubernetes' probes and
# explanations (seconds by design: a p99 over them would alert while /predict is fast).
NOT_SCRAPES = 'route!~"/metrics|/health/.*|/v2/health/.*|/ping|/explain|/v1/models/.*:explain"'
SERVER_ERRORS = 'status=~"5.."'
READ, DEAD_LETTERED = 'outcome="read"', 'outcome="dead_lettered"'  # stream_messages_total


@dataclass(frozen=True)
class Scope:
    """Which model's series a query reads, and over what rate window."""

    watched: Watched
    matcher: str  # model="churn", model!="" or model=~"$model"
    window: str  # 5m, or Grafana's $__rate_interval

    def series(self, name: str, *matchers: str) -> str:
        """``<prefix>_<name>{<model matcher>, matchers...}``."""
        return f"{self.watched.metric(name)}{{{', '.join([self.matcher, *matchers])}}}"

    def rate(self, name: str, by: str = "", *matchers: str) -> str:
        """The per-second rate of a counter, summed over workers and pods by model (and
        by ``by``)."""
        grouping = ", ".join(["model", *([by] if by else [])])
        return f"sum by ({grouping}) (rate({self.series(name, *matchers)}[{self.window}]))"

    def quantile(self, q: float, histogram: str, *matchers: str) -> str:
        """The ``q`` quantile of a histogram over the window."""
        return f"histogram_quantile({q}, {self.rate(histogram + '_bucket', 'le', *matchers)})"


def rules_scope(watched: Watched, window: str = "5m") -> Scope:
    """The alert rules' scope: this model only (several models share one Prometheus), or
    every model of a repository."""
    model = 'model!=""' if watched.runtime == REPO else f"model={json.dumps(watched.model)}"
    return Scope(watched, model, window)


def dashboard_scope(watched: Watched) -> Scope:
    """The dashboard's scope: the models picked in its ``model`` variable."""
    return Scope(watched, 'model=~"$model"', "$__rate_interval")


def _share(scope: Scope, counter: str, part: str, whole: str) -> str:
    """The share of a counter's increase matching ``part`` among that matching ``whole``."""
    return f"{scope.rate(counter, '', part)} / {scope.rate(counter, '', whole)}"


def error_ratio(scope: Scope) -> str:
    """The share of requests answered with a 5xx."""
    return _share(scope, "http_requests_total", f"{SERVER_ERRORS}, {NOT_SCRAPES}", NOT_SCRAPES)


def dead_letter_ratio(scope: Scope) -> str:
    """The share of stream messages read that were dead-lettered (a bad message, a
    failed prediction), the stream's error rate."""
    return _share(scope, "stream_messages_total", DEAD_LETTERED, READ)


def batch_latency(scope: Scope, q: float) -> str:
    """A quantile of a stream batch's time from read to acknowledgement, seconds."""
    return scope.quantile(q, "stream_batch_duration_seconds")


def consumer_lag(scope: Scope) -> str:
    """Messages of the source the group has not been given yet. Every worker of a group
    reports the same figure (the group's), so the highest is the lag."""
    return f"max by (model) ({scope.series('stream_consumer_lag')})"


def _read(scope: Scope) -> str:
    """Messages the workers read per second."""
    return scope.rate("stream_messages_total", "", READ)


def backlog(scope: Scope, minutes: int) -> str:
    """The lag, where the workers would take over ``minutes`` to read it at their pace
    over the window: a threshold that scales with the stream's own traffic."""
    return f"{consumer_lag(scope)} > {minutes * 60} * {_read(scope)}"


def stalled(scope: Scope) -> str:
    """Messages wait while no worker reads any: stuck, or lost its broker connection
    (the lag gauge keeps its last value)."""
    return f"{consumer_lag(scope)} > 0 and {_read(scope)} == 0"


def latency(scope: Scope, q: float) -> str:
    """A quantile of request latency, seconds."""
    return scope.quantile(q, "http_request_duration_seconds", NOT_SCRAPES)


def feature_drift(scope: Scope) -> str:
    """Each feature's PSI, the worst worker's."""
    return f"max by (model, feature) ({scope.series('feature_drift')})"


def prediction_drift(scope: Scope) -> str:
    """The predictions' PSI, the worst worker's."""
    return f"max by (model) ({scope.series('prediction_drift')})"


def model_ready(scope: Scope) -> str:
    """1 when every worker's model serves (the least ready worker's gauge)."""
    return f"min by (model) ({scope.series('model_ready')})"


def log_drops(watched: Watched, window: str) -> str:
    """Prediction-log records dropped per sink. The predlog families carry no ``model``
    label: a server has one log, so these are read by ``sink`` alone."""
    return f"sum by (sink) (increase({watched.metric('predlog_dropped_total')}[{window}]))"
