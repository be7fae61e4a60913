"""Every accepted model form, served through the real ASGI app and called over HTTP."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import joblib
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from starlette.testclient import TestClient

from nervosum import Engine, load_config
from nervosum.serving.app import create_app
from tests.conftest import EXAMPLES, IRIS_SETOSA, IRIS_VIRGINICA, PROJECTS, ProjectFactory

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_SCHEMA = "input_schema:\n" + "".join(f"  - {{name: {f}, type: float}}\n" for f in FEATURES)


@pytest.fixture(scope="module")
def iris_frame() -> tuple[pd.DataFrame, pd.Series]:
    data = load_iris()
    return pd.DataFrame(data.data, columns=FEATURES), pd.Series(data.target)


def client_for(project_dir: Path, config: str = "nervosum.yaml") -> TestClient:
    project = load_config(project_dir, config)
    return TestClient(create_app(project, engine=Engine.load(project)))


@pytest.fixture(scope="module")
def iris_client() -> Iterator[TestClient]:
    with client_for(EXAMPLES / "iris") as client:
        yield client


def test_seed_iris_answers_class_0_and_class_2(iris_client: TestClient) -> None:
    first = iris_client.post("/predict", json=IRIS_SETOSA)
    assert first.status_code == 200
    assert first.json()["prediction"] == 0
    second = iris_client.post("/predict", json=IRIS_VIRGINICA)
    assert second.json()["prediction"] == 2
    probabilities = second.json()["probabilities"]
    assert set(probabilities) == {"0", "1", "2"}
    assert max(probabilities, key=probabilities.get) == "2"
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_array_keeps_length_and_order(iris_client: TestClient) -> None:
    rows = [IRIS_VIRGINICA, IRIS_SETOSA, IRIS_VIRGINICA]
    response = iris_client.post("/predict", json=rows)
    assert [r["prediction"] for r in response.json()] == [2, 0, 2]


def test_sorted_keys_give_the_same_answer(iris_client: TestClient) -> None:
    shuffled = dict(sorted(IRIS_VIRGINICA.items(), reverse=True))
    assert list(shuffled) != FEATURES
    assert iris_client.post("/predict", json=shuffled).json()["prediction"] == 2


def test_method_chain_runs_in_listed_order() -> None:
    with client_for(PROJECTS / "chain") as client:
        response = client.post("/predict", json=[{"x": 1}, {"x": 2.5}])
    assert response.json() == [
        {"value": 3.0, "trace": "prepare>score>finish"},
        {"value": 6.0, "trace": "prepare>score>finish"},
    ]


def test_transform_predict_is_called_once_per_record_with_numpy_values_converted() -> None:
    with client_for(PROJECTS / "transform") as client:
        one = client.post("/predict", json={"revenueAmount": 1000})
        many = client.post("/predict", json=[{"revenueAmount": 10}, {}])
    assert one.json() == {"big": 1, "amount": 1000.0, "rows": 1}
    assert many.json() == [
        {"big": 0, "amount": 10.0, "rows": 1},
        {"big": 0, "amount": 0.0, "rows": 1},
    ]


def test_init_kwargs_and_load_hook() -> None:
    with client_for(PROJECTS / "init_load") as client:
        response = client.post("/predict", json={"x": 2})
        info = client.get("/info").json()
    assert response.json() == {"prediction": 6.5}
    assert info["version"] == "2.0"


def test_every_schema_type_reaches_the_model_typed(tmp_path: Path) -> None:
    with client_for(PROJECTS / "types") as client:
        response = client.post(
            "/predict",
            json={
                "request_id": "r-1",
                "count": "4",
                "ratio": 0.5,
                "label": "b",
                "flag": True,
                "when": "2026-11-23T10:00:00+01:00",
                "tags": ["x", 1],
                "extra": {"k": [1, 2]},
            },
        )
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "r-1"
    dtypes, note, level = body["summary"].split("|")
    assert dtypes.startswith("count:int64,ratio:float64,label:")
    assert "flag:bool" in dtypes
    assert "when:datetime64" in dtypes
    assert "UTC" in dtypes
    assert (note, level) == ("None", "3")


@pytest.fixture
def artifact_project(
    make_project: ProjectFactory, iris_frame: tuple[pd.DataFrame, pd.Series]
) -> Path:
    features, target = iris_frame
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    pipeline.fit(features, target.map({0: "setosa", 1: "versicolor", 2: "virginica"}))
    folder = make_project(
        f"""
        name: iris-artifact
        tag: v3
        model: {{artifact: model.joblib}}
        {IRIS_SCHEMA.replace(chr(10), chr(10) + "        ")}
        """
    )
    joblib.dump(pipeline, folder / "model.joblib")
    return folder


def test_joblib_pipeline_artifact_gives_labels_and_named_probabilities(
    artifact_project: Path,
) -> None:
    with client_for(artifact_project) as client:
        response = client.post("/predict", json=[IRIS_SETOSA, IRIS_VIRGINICA])
        info = client.get("/info").json()
    first, second = response.json()
    assert first["prediction"] == "setosa"
    assert second["prediction"] == "virginica"
    assert set(first["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert info["classes"] == ["setosa", "versicolor", "virginica"]
    assert info["model"] == "model.joblib"


def test_probabilities_can_be_turned_off_per_request_and_in_config(
    artifact_project: Path,
) -> None:
    with client_for(artifact_project) as client:
        assert "probabilities" not in client.post("/predict?proba=false", json=IRIS_SETOSA).json()
    config = (artifact_project / "nervosum.yaml").read_text()
    (artifact_project / "off.yaml").write_text(
        config.replace("{artifact: model.joblib}", "{artifact: model.joblib, probabilities: false}")
    )
    with client_for(artifact_project, "off.yaml") as client:
        assert client.post("/predict", json=IRIS_SETOSA).json() == {"prediction": "setosa"}


def test_regressor_artifact_has_no_probabilities(
    make_project: ProjectFactory, iris_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    features, _ = iris_frame
    model = LinearRegression().fit(features[FEATURES[:3]], features["petal_width"])
    folder = make_project(
        """
        name: width
        model: {artifact: models/width.pkl}
        input_schema:
          - {name: sepal_length, type: float}
          - {name: sepal_width, type: float}
          - {name: petal_length, type: float}
        output_schema: {name: petal_width, type: float}
        """
    )
    (folder / "models").mkdir()
    with (folder / "models" / "width.pkl").open("wb") as handle:
        pickle.dump(model, handle)
    row = {k: IRIS_VIRGINICA[k] for k in FEATURES[:3]}
    with client_for(folder) as client:
        body = client.post("/predict", json=row).json()
    assert list(body) == ["petal_width"]
    assert 1.5 < body["petal_width"] < 2.6


TEMPLATE_MODEL = """
import uuid


class Model:
    def __init__(self, estimator):
        self.model = estimator
        self.classes = [str(c) for c in estimator.classes_]
        self.id = "abab44ec-265d-4fde-9a5b-c166f478f09d"
        self.creation_time = "2020.06.01 23:02:42"

    def predict(self, x):
        return self.model.predict(x)

    def predict_proba(self, x):
        return self.model.predict_proba(x)
"""


def test_pickled_template_model_keeps_its_own_identity(
    make_project: ProjectFactory, iris_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    folder = make_project(
        f"""
        name: template
        model: {{artifact: model_bin/model.pkl}}
        {IRIS_SCHEMA.replace(chr(10), chr(10) + "        ")}
        """,
        {"source/__init__.py": "", "source/mdl.py": TEMPLATE_MODEL},
        name="template_project",
    )
    import importlib
    import sys

    def forget_source() -> None:  # another test's `source` package must not answer
        for name in [n for n in sys.modules if n == "source" or n.startswith("source.")]:
            del sys.modules[name]

    forget_source()
    sys.path.insert(0, str(folder))
    try:
        mdl = importlib.import_module("source.mdl")
        features, target = iris_frame
        wrapped = mdl.Model(LogisticRegression(max_iter=500).fit(features, target))
        (folder / "model_bin").mkdir()
        (folder / "model_bin" / "model.pkl").write_bytes(cloudpickle.dumps(wrapped))
    finally:
        sys.path.remove(str(folder))
        forget_source()
    with client_for(folder) as client:
        info = client.get("/info").json()
        body = client.post("/predict", json=IRIS_VIRGINICA).json()
    assert info["uuid"] == "abab44ec-265d-4fde-9a5b-c166f478f09d"
    assert info["created"] == "2020.06.01 23:02:42"
    assert body["prediction"] == 2
    assert set(body["probabilities"]) == {"0", "1", "2"}


def test_info_and_schema_describe_the_model(iris_client: TestClient) -> None:
    info = iris_client.get("/info").json()
    assert info["name"] == "Iris"
    assert info["version"] == info["tag"] == "v0.0.1"
    assert info["mode"] == "http"
    assert len(info["uuid"]) == 36
    assert info["created"].endswith("Z")
    assert [f["name"] for f in info["input_schema"]] == FEATURES
    assert iris_client.get("/metadata").json()["uuid"] == info["uuid"]
    assert iris_client.get("/info").json()["uuid"] == info["uuid"]  # stable while loaded
    schema = iris_client.get("/schema").json()
    assert schema["output_schema"] == [{"name": "prediction", "type": "int"}]


def test_health_and_home_page(iris_client: TestClient) -> None:
    assert iris_client.get("/health/live").json() == {"status": "alive"}
    assert iris_client.get("/health/ready").json() == {"status": "ready", "model": "Iris"}
    home = iris_client.get("/")
    assert home.status_code == 200
    assert "Iris" in home.text
    assert 'href="/docs"' in home.text


def test_hidden_details_stay_in_the_log(
    make_project: ProjectFactory, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_project(
        """
        name: private
        errors: {expose_details: false}
        model: {module: steps, class: Steps, methods: [prepare, score, finish]}
        input_schema:
          - {name: x, type: float}
        """,
        {"steps.py": (PROJECTS / "chain" / "steps.py").read_text()},
    )
    with client_for(folder) as client, caplog.at_level("WARNING", logger="nervosum.serving"):
        response = client.post("/predict", json={"x": "not a number", "secret_field": 1})
    error = response.json()["error"]
    assert response.status_code == 422
    assert error["details"] == []
    assert "secret_field" not in response.text
    assert "secret_field" in caplog.text
    assert "'loc': ['x']" in caplog.text


def test_module_level_function_answers_every_protocol() -> None:
    with client_for(PROJECTS / "function") as client:
        native = client.post("/predict", json=[{"x": 0.2}, {"x": 3}])
        v2 = client.post(
            "/v2/models/function/infer",
            json={"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [0.2, 3]}]},
        )
        mlflow = client.post("/invocations", json={"dataframe_records": [{"x": 0.2}, {"x": 3}]})
        kserve = client.post("/v1/models/function:predict", json={"instances": [{"x": 3}]})
        info = client.get("/info").json()
    assert native.json() == [{"prediction": 0}, {"prediction": 1}]
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == [0, 1]
    assert mlflow.json() == {"predictions": [0, 1]}
    assert kserve.json() == {"predictions": [1]}
    assert info["model"] == "model.model.predict"
