"""``POST /explain`` and KServe v1's ``:explain`` on served models (docs/monitoring.md):
exact tree attributions that add up to the model's own output, the class asked for, a
sampled estimate over background rows, the 4xx of what cannot be explained, metrics and
prediction-log records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from nervosum.drift.profile import PROFILE_FILE, make_profile
from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import metric_samples

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
SCHEMA = "input_schema:\n" + "".join(f"  - {{name: {f}, type: float}}\n" for f in FEATURES)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris()
    return pd.DataFrame(data.data, columns=FEATURES), data.target


def serve(folder: Path, model: object, more: str = "") -> TestClient:
    """``folder`` as a project serving ``model`` (a joblib file), logging to a file."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    log = folder / "predictions.jsonl"
    (folder / "nervosum.yaml").write_text(
        f"name: iris\nid_field: key\nmodel: {{artifact: model.joblib}}\n{SCHEMA}"
        f"logging: {{sinks: [{{type: jsonl, path: '{log}'}}]}}\n{more}"
    )
    project = load_config(folder)
    return TestClient(create_app(project, engine=Engine.load(project)))


@pytest.fixture(scope="module")
def forest(iris: tuple[pd.DataFrame, np.ndarray]) -> RandomForestClassifier:
    features, target = iris
    return RandomForestClassifier(n_estimators=30, random_state=0).fit(features, target)


@pytest.fixture
def forest_client(tmp_path: Path, forest: RandomForestClassifier) -> Iterator[TestClient]:
    with serve(tmp_path / "forest", forest) as client:
        yield client


def test_a_forest_is_explained_exactly_and_adds_up_to_its_probability(
    forest_client: TestClient, forest: RandomForestClassifier
) -> None:
    answer = forest_client.post("/explain", json={**ROW, "key": "r1"})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["method"].startswith("treeshap") and found["exact"] is True
    assert found["output"] == "probability" and found["samples"] is None
    (row,) = found["explanations"]
    probability = forest.predict_proba(pd.DataFrame([ROW]))[0]
    predicted = int(np.argmax(probability))
    assert row["key"] == "r1" and row["prediction"] == predicted  # the model's own label
    assert row["explained"] == str(predicted)
    assert list(row["contributions"]) == FEATURES
    total = row["base_value"] + sum(row["contributions"].values())
    assert total == pytest.approx(probability[predicted], abs=1e-6)


def test_every_class_or_the_one_asked_for(forest_client: TestClient) -> None:
    every = forest_client.post("/explain?class=all", json=[ROW, ROW]).json()
    one = forest_client.post("/explain?class=0", json=ROW).json()
    unknown = forest_client.post("/explain?class=setosa", json=ROW)
    first = every["explanations"][0]
    assert set(first["contributions"]) == set(first["base_value"]) == {"0", "1", "2"}
    assert one["explanations"][0]["explained"] == "0"
    assert one["explanations"][0]["contributions"] == first["contributions"]["0"]
    assert unknown.status_code == 422
    error = unknown.json()["error"]
    assert "class 'setosa' is not one of the model's outputs" in error["message"]
    assert error["details"][0]["loc"] == ["query", "class"]


def test_kserve_explain_takes_instances(forest_client: TestClient) -> None:
    answer = forest_client.post("/v1/models/iris:explain", json={"instances": [ROW]})
    plain = forest_client.post("/explain", json=ROW)
    assert answer.status_code == 200, answer.text
    assert answer.json()["explanations"] == plain.json()["explanations"]


def test_explanations_are_counted_and_logged_with_the_rows_id(
    tmp_path: Path, forest: RandomForestClassifier
) -> None:
    with serve(tmp_path / "logged", forest) as client:
        client.post("/explain", json=[{**ROW, "key": "a"}, {**ROW, "key": "b"}])
        rows = metric_samples(client, "nervosum_explained_rows_total")
    log = (tmp_path / "logged" / "predictions.jsonl").read_text().splitlines()
    explained = [r for r in map(json.loads, log) if r["kind"] == "explanation"]
    assert sum(rows.values()) == 2
    assert [r["id"] for r in explained] == ["a", "b"]
    assert explained[0]["exact"] is True and "contributions" in explained[0]
    assert "key" not in explained[0]


def test_a_multiclass_booster_file_is_explained_in_its_raw_margins(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    features, target = iris
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(features, target)
    folder = tmp_path / "booster"
    folder.mkdir()
    model.save_model(folder / "model.json")
    project = load_config(folder / "model.json")
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        found = client.post("/explain", json=ROW).json()
    (row,) = found["explanations"]
    margin = model.predict(pd.DataFrame([ROW]), output_margin=True)[0]
    column = int(row["explained"])
    assert found["method"] == "treeshap:xgboost" and found["output"] == "raw"  # softmax inputs
    total = row["base_value"] + sum(row["contributions"].values())
    assert total == pytest.approx(float(margin[column]), abs=1e-5)


def test_a_model_without_trees_needs_background_rows_then_is_sampled(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    with serve(tmp_path / "plain", model) as client:
        refused = client.post("/explain", json=ROW)
    features.head(50).to_csv(tmp_path / "background.csv", index=False)
    more = f"monitoring: {{background: {tmp_path / 'background.csv'}}}"
    with serve(tmp_path / "sampled", model, more) as client:
        found = client.post("/explain", json=ROW).json()
    assert refused.status_code == 501  # the server's limitation, not the request's fault
    assert "monitoring.background" in refused.json()["error"]["message"]
    assert found["method"].startswith("sampled") and found["exact"] is False
    assert found["samples"] > 0


def sampled_row(found: dict[str, Any], model: LogisticRegression) -> dict[str, Any]:
    """The one row of a sampled answer, checked to add up to the model's probability."""
    (row,) = found["explanations"]
    assert found["method"] == "sampled:permutation" and found["samples"] > 0
    probability = model.predict_proba(pd.DataFrame([ROW]))[0][int(row["explained"])]
    total = row["base_value"] + sum(row["contributions"].values())
    assert total == pytest.approx(probability, abs=1e-5)  # the answer keeps 6 decimals
    return dict(row)


def test_without_background_rows_the_reference_is_the_background(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    folder = tmp_path / "referenced"
    folder.mkdir()
    features.to_csv(folder / "reference.csv", index=False)
    with serve(folder, model, "monitoring: {reference: reference.csv}") as client:
        found = client.post("/explain", json=ROW).json()
    sampled_row(found, model)


def test_a_tree_model_never_reads_the_background_and_gaps_are_left_out(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray], forest: RandomForestClassifier
) -> None:
    features, target = iris
    folder = tmp_path / "partial"
    folder.mkdir()
    features.drop(columns="sepal_width").to_csv(folder / "partial.csv", index=False)
    with serve(folder, forest, "monitoring: {reference: partial.csv}") as client:
        exact = client.post("/explain", json=ROW)  # live drift allows a partial reference
    assert exact.status_code == 200, exact.text
    assert exact.json()["method"] == "treeshap:nervosum"
    holes = features.copy()
    holes.loc[::3, "sepal_width"] = np.nan
    folder = tmp_path / "gaps"
    folder.mkdir()
    holes.to_csv(folder / "reference.csv", index=False)
    model = LogisticRegression(max_iter=500).fit(features, target)
    with serve(folder, model, "monitoring: {reference: reference.csv}") as client:
        found = client.post("/explain", json=ROW).json()
    (row,) = found["explanations"]
    assert row["base_value"] is not None and None not in row["contributions"].values()


def test_a_trained_profile_alone_gives_background_rows_drawn_from_it(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    folder = tmp_path / "profiled"
    with serve(folder, model) as client:  # first without a profile: nothing to sample over
        refused = client.post("/explain", json=ROW)
    project = load_config(folder)
    make_profile(Engine.load(project), features, "iris.csv").write(folder / PROFILE_FILE)
    with serve(folder, model) as client:
        found = client.post("/explain", json=ROW).json()
    assert refused.status_code == 501
    assert "monitoring.reference" in json.dumps(refused.json()["error"])
    row = sampled_row(found, model)
    # petal length moves iris's classes most, in the profile's rows as in the real ones
    contributions = row["contributions"]
    assert max(contributions, key=lambda name: abs(contributions[name])).startswith("petal")


def text_model(folder: Path) -> Path:
    """A project whose one input is text (``word``): nothing numeric to attribute."""
    folder.mkdir()
    (folder / "model.py").write_text(
        "class Model:\n    def predict(self, frame):\n        return list(frame['word'])\n"
    )
    (folder / "nervosum.yaml").write_text(
        "name: words\nmodel: {module: model, class: Model}\n"
        "input_schema: [{name: word, type: str}]\n"
    )
    return folder


def test_text_inputs_cannot_be_explained(tmp_path: Path) -> None:
    project = load_config(text_model(tmp_path / "text"))
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        refused = client.post("/explain", json={"word": "hello"})
    assert refused.status_code == 501
    assert "explanations need numeric inputs; word is not" in refused.json()["error"]["message"]


LABELLED = """
import pandas as pd


class Model:
    \"\"\"Probabilities as a labelled frame, no classes_; refuses float counts.\"\"\"

    def _check(self, frame):
        if frame["count"].dtype.kind != "i":
            raise TypeError("count must be whole numbers")

    def predict(self, frame):
        self._check(frame)
        return ["big" if c > 5 else "small" for c in frame["count"]]

    def predict_proba(self, frame):
        self._check(frame)
        big = [min(1.0, c / 10) for c in frame["count"]]
        return pd.DataFrame({"small": [1 - b for b in big], "big": big})
"""


def user_class(folder: Path, code: str, more: str = "") -> TestClient:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(code)
    pd.DataFrame({"count": [0, 2, 4, 6, 8, 10]}).to_csv(folder / "typical.csv", index=False)
    (folder / "nervosum.yaml").write_text(
        "name: counts\nmodel: {module: model, class: Model}\n"
        "input_schema: [{name: count, type: int}]\n"
        f"monitoring: {{background: typical.csv{more}}}\n"
    )
    project = load_config(folder)
    return TestClient(create_app(project, engine=Engine.load(project)))


def test_a_user_class_is_explained_by_its_probabilities_labels_and_int_types(
    tmp_path: Path,
) -> None:
    with user_class(tmp_path / "labelled", LABELLED) as client:
        found = client.post("/explain", json={"count": 9}).json()
        big = client.post("/explain?class=big", json={"count": 9}).json()
    (row,) = found["explanations"]
    assert found["method"].startswith("sampled") and found["output"] == "probability"
    assert row["prediction"] == row["explained"] == "big"
    assert row["base_value"] + row["contributions"]["count"] == pytest.approx(0.9)
    assert big["explanations"][0]["explained"] == "big"


def test_labels_without_probabilities_and_too_many_rows_are_refused(tmp_path: Path) -> None:
    labels_only = LABELLED.replace("def predict_proba", "def _unused")
    with user_class(tmp_path / "labels", labels_only) as client:
        refused = client.post("/explain", json={"count": 9})
    with user_class(tmp_path / "few", LABELLED, ", explain_max_rows: 2") as client:
        too_many = client.post("/explain", json=[{"count": 1}] * 3)
    assert refused.status_code == 501
    assert "labels without class probabilities" in refused.json()["error"]["message"]
    assert too_many.status_code == 400
    assert "at most 2 per request" in too_many.json()["error"]["message"]
