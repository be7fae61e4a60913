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
