"""A folder of saved stages made into a project (as a notebooks build finishes it) and
served through the real ASGI app: which prediction metrics each kind of last stage gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from starlette.testclient import TestClient

from nervosum import Engine
from nervosum.build.progress import Progress
from nervosum.config import Project
from nervosum.model.stages import write_stages
from nervosum.notebooks.project import finish_project
from nervosum.serving.app import create_app

TEXTS = ["tasty snack", "crunchy coffee", "sister cottage", "elinor estate"] * 5
LABELS = ["spam", "spam", "legitimate", "legitimate"] * 5
VECTORIZER = HashingVectorizer(n_features=32, alternate_sign=False)


def stages_project(folder: Path, last: Any) -> Project:
    """Two saved stages (a vectorizer, then ``last`` fitted on its output), finished."""
    folder.mkdir()
    for name, stage in (("features.sav", VECTORIZER), ("model.sav", last)):
        with (folder / name).open("wb") as handle:
            cloudpickle.dump(stage, handle)
    write_stages(folder, ["features.ipynb", "model.ipynb"])
    (folder / "requirements.txt").write_text("scikit-learn\ncloudpickle\n")
    return finish_project(folder, name="stages", tag="t1", origin="a test", progress=Progress())


def samples(client: TestClient, name: str) -> list[tuple[dict[str, str], float]]:
    text = client.get("/metrics").text
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    project = stages_project(tmp_path / "project", request.param)
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        yield client


FEATURES = VECTORIZER.transform(TEXTS)


@pytest.mark.parametrize("served", [LogisticRegression().fit(FEATURES, LABELS)], indirect=True)
def test_a_classifier_counts_classes_and_answers_probabilities(served: TestClient) -> None:
    answer = served.post("/predict", json={"text": "tasty coffee snack"}).json()
    assert answer["prediction"] == "spam"
    assert set(answer["probabilities"]) == {"legitimate", "spam"}
    counted = samples(served, "nervosum_predictions_total")
    assert counted == [({"model": "stages", "value": "spam"}, 1.0)]


@pytest.mark.parametrize(
    "served", [Ridge().fit(FEATURES, [float(len(t)) for t in TEXTS])], indirect=True
)
def test_a_regressor_fills_the_value_histogram(served: TestClient) -> None:
    form = served.post("/predict", data={"json_args": json.dumps(["tasty snack", "elinor"])})
    assert form.status_code == 200, form.text
    assert all(isinstance(value, float) for value in form.json())
    assert samples(served, "nervosum_predictions_count") == [({"model": "stages"}, 2.0)]


@pytest.mark.parametrize(
    "served", [KMeans(n_clusters=2, n_init=1, random_state=0).fit(FEATURES)], indirect=True
)
def test_a_last_stage_that_is_neither_serves_without_prediction_metrics(
    served: TestClient,
) -> None:
    form = served.post("/predict", data={"json_args": json.dumps(["tasty snack", "elinor"])})
    assert form.status_code == 200, form.text
    assert len(form.json()) == 2
    assert samples(served, "nervosum_predictions_total") == []
    assert samples(served, "nervosum_processing_seconds_count") == [({"model": "stages"}, 1.0)]


def test_the_config_turns_prediction_metrics_off_only_for_neither(tmp_path: Path) -> None:
    kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(FEATURES)
    classifier = LogisticRegression().fit(FEATURES, LABELS)
    neither = yaml.safe_load((stages_project(tmp_path / "a", kmeans).config_path).read_text())
    plain = yaml.safe_load((stages_project(tmp_path / "b", classifier).config_path).read_text())
    assert neither["metrics"] == {"predictions": "off"}
    assert plain == {
        "name": "stages",
        "tag": "t1",
        "model": {"artifact": "stages.json"},
        "requirements": "requirements.txt",
    }


@pytest.mark.parametrize("served", [LogisticRegression().fit(FEATURES, LABELS)], indirect=True)
@pytest.mark.parametrize(
    ("body", "shown"),
    [([{"text": "free cash", "id": 1}], "got 2 fields (text, id)"), ([{}], "got no fields")],
)
def test_a_text_pipeline_answers_422_for_records_without_exactly_one_field(
    served: TestClient, body: list[dict[str, Any]], shown: str
) -> None:
    answer = served.post("/predict", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "validation_error"
    assert "exactly one field" in error["message"] and shown in error["message"]
    assert samples(served, "nervosum_predictions_total") == []
