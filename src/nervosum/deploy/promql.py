"""The PromQL the dashboard and the alert rules share, so a panel shows exactly what its
alert judges. A :class:`Scope` picks the model: Grafana's ``$model`` variable in the
dashboard, the model's own name in the rules.

Per-worker gauges (docs/observability.md: with ``--workers N`` the live gauges carry a
``pid`` label) are folded with ``max``/``min``/``sum``/``avg`` by their other labels, so a
query answers the same for one worker or many.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nervosum.deploy.watch import Watched

# Latency and the error ratio leave out Prometheus' own scrapes, Kubernetes' probes and
# explanations (seconds by design: a p99 over them would alert while /predict is fast).
NOT_SCRAPES = 'route!~"/metrics|/health/.*|/v2/health/.*|/ping|/explain|/v1/models/.*:explain"'
SERVER_ERRORS = 'status=~"5.."'


@dataclass(frozen=True)
class Scope:
    """Which model's series a query reads, and over what rate window."""

    watched: Watched
    matcher: str  # model="churn" or model=~"$model"
    window: str  # 5m, or Grafana's $__rate_interval

    def series(self, name: str, *matchers: str) -> str:
        """``<prefix>_<name>{<model matcher>, matchers...}``."""
        return f"{self.watched.metric(name)}{{{', '.join([self.matcher, *matchers])}}}"

    def rate(self, name: str, by: str = "", *matchers: str) -> str:
        """The per-second rate of a counter, summed (by ``by``) over workers and pods."""
        grouping = f" by ({by}) " if by else ""
        return f"sum{grouping}(rate({self.series(name, *matchers)}[{self.window}]))"

    def quantile(self, q: float, histogram: str, *matchers: str) -> str:
        """The ``q`` quantile of a histogram over the window."""
        return f"histogram_quantile({q}, {self.rate(histogram + '_bucket', 'le', *matchers)})"


def rules_scope(watched: Watched, window: str = "5m") -> Scope:
    """The alert rules' scope: this model only (several models share one Prometheus)."""
    return Scope(watched, f"model={json.dumps(watched.model)}", window)


def dashboard_scope(watched: Watched) -> Scope:
    """The dashboard's scope: the models picked in its ``model`` variable."""
    return Scope(watched, 'model=~"$model"', "$__rate_interval")


def error_ratio(scope: Scope) -> str:
    """The share of requests answered with a 5xx."""
    requests = "http_requests_total"
    errors = f"{SERVER_ERRORS}, {NOT_SCRAPES}"
    return f"{scope.rate(requests, '', errors)} / {scope.rate(requests, '', NOT_SCRAPES)}"


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
