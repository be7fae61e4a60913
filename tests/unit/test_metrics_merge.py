"""Merging registries whose models disagree on a family's type (observe/merge.py)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from nervosum.observe.merge import merged_exposition


def _registries(family: str) -> list[CollectorRegistry]:
    """A classifier's and a regressor's registries, both naming their predictions
    ``family`` (the warning is said once per process: each test names its own)."""
    classes, values = CollectorRegistry(), CollectorRegistry()
    Counter(family, "by class", ["model", "value"], registry=classes).labels("churn", "yes").inc(3)
    Histogram(family, "values", ["model"], registry=values).labels("price").observe(2.5)
    return [classes, values]


def test_the_first_type_is_kept_and_the_page_parses() -> None:
    page = merged_exposition(_registries("m_predictions")).decode()
    families = {f.name: f for f in text_string_to_metric_families(page)}
    assert families["m_predictions"].type == "counter"
    assert {s.labels["model"] for s in families["m_predictions"].samples} == {"churn"}


def test_the_conflict_is_said_once_not_on_every_scrape(caplog: pytest.LogCaptureFixture) -> None:
    registries = _registries("n_predictions")
    with caplog.at_level(logging.WARNING, logger="nervosum.metrics"):
        merged_exposition(registries)
        merged_exposition(registries)
        merged_exposition(registries)
    warned = [r for r in caplog.records if "n_predictions" in r.getMessage()]
    assert len(warned) == 1
