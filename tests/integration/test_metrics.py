"""Prometheus metrics: prediction metrics as nachlass published them, the prefix, several
workers adding up, and an exposition that promtool and the client parser accept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import EXAMPLES, ProjectFactory, live_server, metric_samples

IRIS_ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
]

REGRESSOR = """
name: doubling
model: {module: doubling, class: Doubling}
input_schema:
  - {name: x, type: float}
output_schema:
  - {name: y, type: float}
metrics:
  buckets: [1, 10, 100]
"""
REGRESSOR_CODE = """
class Doubling:
    def predict(self, frame):
        return (frame["x"] * 2).to_numpy()
"""

WORDS = """
name: words
model: {module: words, class: Words}
input_schema:
  - {name: x, type: int}
metrics:
  max_classes: 3
"""
WORDS_CODE = """
class Words:
    def predict(self, frame):
        return [f"word{x}" for x in frame["x"]]
"""


def promtool_accepts(exposition: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed: run scripts/setup-system")
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def client_for(project_dir: Path) -> TestClient:
    project = load_config(project_dir)
    return TestClient(create_app(project, engine=Engine.load(project)))


@pytest.fixture
def iris() -> Iterator[TestClient]:
    with client_for(EXAMPLES / "iris") as client:
        yield client


def test_a_classifier_counts_each_predicted_class(iris: TestClient) -> None:
    for _ in range(3):
        assert iris.post("/predict", json=IRIS_ROWS).status_code == 200
    assert iris.post("/predict", json=IRIS_ROWS[0]).status_code == 200

    counts = metric_samples(iris, "nervosum_predictions_total")
    assert counts == {
        (("model", "Iris"), ("value", "0")): 4.0,
        (("model", "Iris"), ("value", "2")): 3.0,
    }
    processing = metric_samples(iris, "nervosum_processing_seconds_count")
    assert list(processing.values()) == [4.0]  # one model call per request here


def test_build_info_load_time_and_readiness_are_exported(iris: TestClient) -> None:
    (labels,) = metric_samples(iris, "nervosum_build_info")
    found = dict(labels)
    assert (found["model"], found["tag"]) == ("Iris", "v0.0.1")
    assert found["uuid"] == iris.get("/info").json()["uuid"]
    (load,) = metric_samples(iris, "nervosum_model_load_seconds").values()
    assert load > 0
    assert list(metric_samples(iris, "nervosum_model_ready").values()) == [1.0]


def test_a_regressor_gets_a_histogram_of_its_values_with_the_configured_buckets(
    make_project: ProjectFactory,
) -> None:
    project = make_project(REGRESSOR, {"doubling.py": REGRESSOR_CODE})
    with client_for(project) as client:
        response = client.post("/predict", json=[{"x": 0.25}, {"x": 3}, {"x": 40}, {"x": 600}])
        assert response.status_code == 200
        buckets = metric_samples(client, "nervosum_predictions_bucket")
        total = metric_samples(client, "nervosum_predictions_sum")
        assert not metric_samples(client, "nervosum_predictions_total")
    by_bound = {dict(labels)["le"]: value for labels, value in buckets.items()}
    assert by_bound == {"1.0": 1.0, "10.0": 2.0, "100.0": 3.0, "+Inf": 4.0}
    assert list(total.values()) == [pytest.approx(0.5 + 6 + 80 + 1200)]


def test_unknown_classes_are_bounded_then_counted_as_other(make_project: ProjectFactory) -> None:
    project = make_project(WORDS, {"words.py": WORDS_CODE})
    with client_for(project) as client:
        assert client.post("/predict", json=[{"x": i} for i in range(10)]).status_code == 200
        counts = metric_samples(client, "nervosum_predictions_total")
    values = {dict(labels)["value"]: count for labels, count in counts.items()}
    assert values == {"word0": 1.0, "word1": 1.0, "word2": 1.0, "other": 7.0}


def test_the_prefix_comes_from_the_config_then_the_environment(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S2I_APP_METRICS_PREFIX", "legacy")
    project = make_project(REGRESSOR, {"doubling.py": REGRESSOR_CODE})
    with client_for(project) as client:
        client.post("/predict", json={"x": 1})
        assert metric_samples(client, "legacy_predictions_count")
        assert not metric_samples(client, "nervosum_predictions_count")
    monkeypatch.setenv("NERVOSUM_METRICS_PREFIX", "modern")  # wins over the nachlass one
    with client_for(project) as client:
        client.post("/predict", json={"x": 1})
        assert metric_samples(client, "modern_http_requests_total")
    configured = make_project(REGRESSOR + "  prefix: churn\n", {"doubling.py": REGRESSOR_CODE})
    with client_for(configured) as client:
        client.post("/predict", json={"x": 1})
        assert metric_samples(client, "churn_processing_seconds_count")


def test_a_bad_prefix_in_the_environment_stops_the_server_with_exit_2(
    make_project: ProjectFactory,
) -> None:
    project = make_project(REGRESSOR, {"doubling.py": REGRESSOR_CODE})
    result = subprocess.run(
        [sys.executable, "-m", "nervosum", "serve", str(project), "--port", "0"],
        env={**os.environ, "NERVOSUM_METRICS_PREFIX": "9-lives"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "NERVOSUM_METRICS_PREFIX" in result.stderr
    assert "not a Prometheus metric name" in result.stderr


def test_metrics_answer_get_and_post(iris: TestClient) -> None:
    assert iris.get("/metrics").text.startswith("# HELP")
    assert iris.post("/metrics").status_code == 200


def test_several_workers_add_up_and_the_exposition_is_valid() -> None:
    requests = 40
    with live_server(EXAMPLES / "iris", "--workers", "2") as server:
        with ThreadPoolExecutor(max_workers=8) as pool:
            # fresh connections, so both workers answer some
            answers = list(
                pool.map(
                    lambda _: httpx.post(f"{server.url}/predict", json=IRIS_ROWS, timeout=30),
                    range(requests),
                )
            )
        assert all(a.status_code == 200 for a in answers)
        scrapes = [httpx.get(f"{server.url}/metrics", timeout=10).text for _ in range(4)]
    for text in scrapes:  # whichever worker answers the scrape, the counts are the sums
        families = {f.name: f for f in text_string_to_metric_families(text)}
        predicted = {
            s.labels["value"]: s.value
            for s in families["nervosum_predictions"].samples
            if s.name == "nervosum_predictions_total"
        }
        assert predicted == {"0": requests, "2": requests}
        posts = [
            s.value
            for s in families["nervosum_http_requests"].samples
            if s.name == "nervosum_http_requests_total" and s.labels["route"] == "/predict"
        ]
        assert posts == [requests]
    promtool_accepts(scrapes[0])


def test_a_single_process_exposition_passes_promtool(iris: TestClient) -> None:
    iris.post("/predict", json=IRIS_ROWS)
    iris.get("/nowhere")
    text = iris.get("/metrics").text
    assert {f.name for f in text_string_to_metric_families(text)} >= {
        "nervosum_predictions",
        "nervosum_processing_seconds",
        "nervosum_http_requests",
        "nervosum_build_info",
    }
    promtool_accepts(text)
