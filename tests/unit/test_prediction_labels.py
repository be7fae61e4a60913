"""Predicted values become metric labels whatever the model returned."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from nervosum.config.spec import MetricsSpec
from nervosum.observe.predictions import PredictionMetrics


def test_an_integer_json_cannot_hold_is_counted_as_its_text() -> None:
    """orjson refuses integers past 64 bits; counting one killed a stream worker."""
    registry = CollectorRegistry()
    metrics = PredictionMetrics(registry, "t", "m", MetricsSpec())
    huge = 2**70
    metrics.observe([[{"prediction": huge}, {"prediction": 1}]], 0.01)
    assert registry.get_sample_value("t_predictions_total", {"model": "m", "value": str(huge)})
    assert registry.get_sample_value("t_predictions_total", {"model": "m", "value": "1"}) == 1


def test_a_new_version_with_known_classes_counts_them_under_their_own_names() -> None:
    """serve-repo keeps a model's metrics across versions: counters chosen for the old
    version's labels must not outlive it."""
    registry = CollectorRegistry()
    metrics = PredictionMetrics(registry, "t", "m", MetricsSpec(max_classes=2))
    metrics.describe_model(None, "prediction", "str")
    metrics.observe([[{"prediction": v} for v in ("a", "b", "c")]], 0.01)
    assert registry.get_sample_value("t_predictions_total", {"model": "m", "value": "other"}) == 1
    metrics.describe_model(["a", "b", "c"], "prediction", "str")  # the next version
    metrics.observe([[{"prediction": "c"}]], 0.01)
    assert registry.get_sample_value("t_predictions_total", {"model": "m", "value": "c"}) == 1
    assert registry.get_sample_value("t_predictions_total", {"model": "m", "value": "other"}) == 1
