"""The training template end to end, as a user runs it:

    nervosum init my-model --template training
    cd my-model && nervosum train . && nervosum serve .

then the template's routes, /info and the prediction log; a regression; the routes on a
model that was not trained by nervosum; and the command's errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from nervosum.cli import main
from nervosum.engine import Engine
from nervosum.model.imports import import_user_module
from nervosum.project import load_config
from nervosum.scaffold import create_project
from nervosum.serving.app import create_app
from nervosum.training import TrainedModel
from tests.conftest import EXAMPLES, IRIS_SETOSA, IRIS_VIRGINICA, live_server, nervosum

pytestmark = pytest.mark.slow

SCAFFOLD = [
    ".github/workflows/nervosum.yml",
    ".gitignore",
    ".nervosumignore",
    "README.md",
    "conftest.py",
    "features.yaml",
    "nervosum.yaml",
    "requirements.txt",
    "source/__init__.py",
    "source/data/__init__.py",
    "source/data/data_loader.py",
    "source/model/__init__.py",
    "source/model/train.py",
    "tests/test_data_loader.py",
    "tests/test_model.py",
    "tests/test_train.py",
]
CLASSES = ["setosa", "versicolor", "virginica"]


def environment() -> dict[str, str]:
    """The user's environment: no NERVOSUM_* settings, wide enough that rich never wraps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVOSUM_")}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1")
    env.pop("PYTEST_ADDOPTS", None)
    return env


@dataclass(frozen=True)
class Trained:
    project: Path
    init: subprocess.CompletedProcess[str]
    train: subprocess.CompletedProcess[str]
    log: Path

    def artifact(self) -> TrainedModel:
        loaded = engine_for(self.project).handle.loaded.instance
        assert isinstance(loaded, TrainedModel)
        return loaded


def engine_for(project: Path) -> Engine:
    """The project's engine, loaded as `nervosum serve` loads it. The artifact's pickle
    names `source.model.train`, which other projects of this test run also have: the
    project's own is imported first."""
    import_user_module("source.model.train", project, project)
    return Engine.load(load_config(project))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    parent = tmp_path_factory.mktemp("training")
    init = nervosum("init", "my-model", "--template", "training", env=environment(), cwd=parent)
    assert init.returncode == 0, init.stderr
    project = parent / "my-model"
    # The user's own edit outside the generated block, which training must keep: the
    # server of these tests runs from elsewhere, so the log path becomes absolute.
    log = project / "logs" / "predictions.jsonl"
    config = project / "nervosum.yaml"
    config.write_text(config.read_text().replace("logs/predictions.jsonl", str(log)))
    train = nervosum("train", ".", env=environment(), cwd=project)
    assert train.returncode == 0, train.stderr
    return Trained(project, init, train, log)


def test_init_writes_the_training_scaffold(trained: Trained) -> None:
    project = trained.project
    files = sorted(
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and not {"__pycache__", "model_bin", "logs"} & set(p.parts)
    )
    assert files == SCAFFOLD
    lines = trained.init.stdout.splitlines()
    assert lines[0] == f"created my-model/ ({len(SCAFFOLD)} files)"
    assert sorted(line.strip() for line in lines[1:-1]) == SCAFFOLD
    assert lines[-1] == "next: cd my-model && nervosum train . && nervosum serve ."
    assert "name: my-model\n" in (project / "nervosum.yaml").read_text()
    assert "# my-model\n" in (project / "README.md").read_text()


def test_every_interface_sits_where_the_template_put_it(trained: Trained) -> None:
    loader = (trained.project / "source/data/data_loader.py").read_text()
    train = (trained.project / "source/model/train.py").read_text()
    assert "def load_data(self, n_rows: int | None = None)" in loader
    for method in ("split_X_y", "fit_X", "fit_y", "process_X", "process_y"):
        assert f"    def {method}(self, " in train
    assert "\ndef train_model(X: pd.DataFrame, y: pd.DataFrame):" in train
    assert "\ndef get_classes(model) -> list[str]:" in train
    # The iris example is fenced so it is plain what to replace.
    for text in (loader, train, (trained.project / "features.yaml").read_text()):
        assert text.count("# --- example") == text.count("# --- end of example ---") > 0


def test_train_reports_held_out_metrics_and_saves_one_artifact(trained: Trained) -> None:
    out = trained.train.stdout
    lines = out.splitlines()
    assert lines[0] == (
        "trained a classification model (LogisticRegression) on 120 of 150 rows; "
        "held out 30, stratified by species"
    )
    assert lines[1] == "metrics on the 30 held-out rows:"
    table = {m.group(1): m.group(2) for m in re.finditer(r"^│ (\w+)\s+│\s+([\d.]+) │$", out, re.M)}
    assert set(table) == {"accuracy", "f1_macro", "f1_weighted", "train_rows", "test_rows"}
    assert float(table["accuracy"]) >= 0.85 and table["test_rows"] == "30"
    artifact = trained.artifact()
    assert (
        f"saved model_bin/model.joblib (id {artifact.id}, created {artifact.creation_time})" in out
    )
    assert lines[-1] == "next: nervosum serve ."
    assert trained.train.stderr == ""
    # One object with everything the issue lists.
    assert type(artifact.preprocessor).__name__ == "Preprocessor"
    assert type(artifact.model).__name__ == "LogisticRegression"
    assert artifact.classes == CLASSES
    assert uuid.UUID(artifact.id).version == 4
    assert artifact.creation_time.endswith("Z")
    assert artifact.features["target"] == "species" and artifact.features["id_field"] == "ID"
    assert artifact.metrics["accuracy"] == pytest.approx(float(table["accuracy"]), abs=1e-4)
    assert {"python", "nervosum", "scikit-learn", "pandas", "numpy"} <= set(artifact.versions)


def test_train_keeps_the_users_config_and_fills_the_block(trained: Trained) -> None:
    text = (trained.project / "nervosum.yaml").read_text()
    assert f"path: {trained.log}" in text  # the edit made before training
    served = load_config(trained.project).config
    assert served.model is not None and served.model.artifact == "model_bin/model.joblib"
    assert served.id_field == "ID"
    assert [(f.name, f.type) for f in served.input_schema] == [
        ("sepal_length", "float"),
        ("sepal_width", "float"),
        ("petal_length", "float"),
        ("petal_width", "float"),
    ]
    assert [(f.name, f.type) for f in served.output_schema] == [("species", "str")]


def read_log(path: Path, count: int) -> list[dict[str, Any]]:
    """The first ``count`` records of the prediction log (its writer flushes in the background)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists():
            records = [json.loads(line) for line in path.read_text().splitlines()]
            if len(records) >= count:
                return records
        time.sleep(0.05)
    raise AssertionError(f"{path} did not get {count} records in time")


def test_the_artifact_serves_the_template_routes(trained: Trained) -> None:
    artifact = trained.artifact()
    with live_server(trained.project) as server, server.client() as client:
        predictions = client.post(
            "/api/predictions", json=[{"ID": "a-1", **IRIS_SETOSA}, IRIS_VIRGINICA]
        )
        proba = client.post(
            "/api/proba_predictions", json=[IRIS_SETOSA, {"ID": 7, **IRIS_VIRGINICA}]
        )
        ping = client.get("/ping")
        info = client.get("/info").json()
        native = client.post("/predict", json={"ID": "n-1", **IRIS_SETOSA})
        metrics = client.get("/metrics").text

    assert predictions.status_code == 200, predictions.text
    assert predictions.json() == [
        {"ID": "a-1", "class_name": "setosa"},
        {"class_name": "virginica"},
    ]
    assert proba.status_code == 200, proba.text
    first, second = proba.json()
    assert set(first) == {"class_names", "probabilities"}
    assert second["ID"] == 7
    for answer in (first, second):
        assert answer["class_names"] == CLASSES
        assert sum(answer["probabilities"]) == pytest.approx(1.0)
    assert max(zip(first["probabilities"], CLASSES, strict=True))[1] == "setosa"
    assert max(zip(second["probabilities"], CLASSES, strict=True))[1] == "virginica"
    assert ping.status_code == 200 and ping.json() == {"ping": "pong"}
    assert (info["uuid"], info["created"]) == (artifact.id, artifact.creation_time)
    assert info["classes"] == CLASSES
    assert native.json()["species"] == "setosa" and native.json()["ID"] == "n-1"
    assert re.search(r'route="/api/predictions",status="200"', metrics)
    assert re.search(r'route="/api/proba_predictions",status="200"', metrics)

    records = read_log(trained.log, 5)
    by_route: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_route.setdefault(record["route"], []).append(record)
    assert {r["id"] for r in by_route["/api/predictions"]} >= {"a-1"}
    assert [r["outputs"] for r in by_route["/api/predictions"]] == [
        {"species": "setosa"},
        {"species": "virginica"},
    ]
    assert by_route["/api/proba_predictions"][1]["id"] == 7
    assert by_route["/api/proba_predictions"][1]["classes"][0]["class"] == "virginica"
    for record in records:
        assert (record["uuid"], record["created"]) == (artifact.id, artifact.creation_time)


def test_bad_bodies_get_the_error_shape(trained: Trained) -> None:
    engine = engine_for(trained.project)
    with TestClient(create_app(engine.project, engine=engine)) as client:
        single = client.post("/api/predictions", json=IRIS_SETOSA)
        text = client.post("/api/proba_predictions", json=[{**IRIS_SETOSA, "sepal_width": "wide"}])
        unknown = client.post("/api/predictions", json=[{**IRIS_SETOSA, "colour": "blue"}])
        broken = client.post("/api/predictions", content=b"[{")
        empty = client.post("/api/predictions", json=[])
        wrong_method = client.get("/api/predictions")
    assert single.status_code == 422
    assert single.json()["error"]["type"] == "validation_error"
    assert single.json()["error"]["message"].startswith(
        "the body must be a JSON list of records, not an object"
    )
    assert single.json()["error"]["details"] == [
        {"loc": [], "msg": "Input should be a valid list", "type": "list_type"}
    ]
    assert text.status_code == 422
    assert text.json()["error"]["details"][0]["loc"] == [0, "sepal_width"]
    assert unknown.status_code == 422
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "bad_request"
    assert empty.status_code == 200 and empty.json() == []
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"


def test_the_generated_projects_tests_pass(trained: Trained) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=trained.project,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^6 passed", result.stdout, re.M), result.stdout


def regression_project(folder: Path) -> Path:
    """The scaffold turned into a regression of petal width, as its docs describe."""
    create_project("widths", folder, "training")
    features = folder / "features.yaml"
    text = features.read_text()
    text = text.replace("task: classification", "task: regression")
    text = text.replace("target: species", "target: petal_width")
    text = re.sub(r"  - \{name: petal_width.*\n", "", text)
    features.write_text(text)
    train = folder / "source" / "model" / "train.py"
    train.write_text(
        train.read_text()
        .replace(
            "from sklearn.linear_model import LogisticRegression",
            "from sklearn.linear_model import LinearRegression",
        )
        .replace("LogisticRegression(max_iter=1000)", "LinearRegression()")
    )
    return folder


def test_a_regression_predicts_and_has_no_probability_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the prediction log's relative path lands here
    project = regression_project(tmp_path / "widths")
    candidate = project / "candidates" / "candidate.joblib"
    result = CliRunner().invoke(main, ["train", str(project), "--model-path", str(candidate)])
    assert result.exit_code == 0, result.output
    assert "trained a regression model (LinearRegression) on 120 of 150 rows; held out 30\n" in (
        result.stdout
    )
    assert re.search(r"│ r2\s+│\s+0\.9\d+ │", result.stdout), result.stdout
    config = load_config(project)
    assert config.config.model is not None
    assert config.config.model.artifact == "candidates/candidate.joblib"
    assert [(f.name, f.type) for f in config.config.output_schema] == [("petal_width", "float")]
    setosa = {k: v for k, v in IRIS_SETOSA.items() if k != "petal_width"}
    engine = engine_for(project)
    with TestClient(create_app(config, engine=engine)) as client:
        predictions = client.post("/api/predictions", json=[setosa])
        proba = client.post("/api/proba_predictions", json=[setosa])
        ping = client.get("/ping")
    assert predictions.status_code == 200, predictions.text
    (answer,) = predictions.json()
    assert float(answer["class_name"]) == pytest.approx(0.2, abs=0.3)
    assert proba.status_code == 404
    assert proba.json()["error"]["type"] == "not_found"
    assert "regression" in proba.json()["error"]["message"]
    assert ping.json() == {"ping": "pong"}


def test_other_models_do_not_answer_the_template_routes() -> None:
    project = load_config(EXAMPLES / "iris")
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        predictions = client.post("/api/predictions", json=[IRIS_SETOSA])
        proba = client.post("/api/proba_predictions", json=[IRIS_SETOSA])
        ping = client.get("/ping")
    for response in (predictions, proba):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["type"] == "not_found"
        assert "serves models saved by `nervosum train`" in error["message"]
    # /ping stays the MLflow protocol's readiness answer.
    assert ping.status_code == 200 and ping.text == "\n"


def test_train_outside_a_training_project_is_one_line_and_exit_2(tmp_path: Path) -> None:
    create_project("plain", tmp_path / "plain")
    result = CliRunner().invoke(main, ["train", str(tmp_path / "plain")])
    assert result.exit_code == 2
    first, hint = result.stderr.splitlines()
    assert first.startswith("error: ") and "has no block for nervosum train to write" in first
    assert hint.startswith("hint: add the two marker lines")
    assert result.stdout == ""


def test_broken_user_code_is_one_line_with_its_location(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    create_project("broken", project, "training")
    loader = project / "source" / "data" / "data_loader.py"
    loader.write_text(loader.read_text().replace("iris = load_iris", "iris = missing_name"))
    result = CliRunner().invoke(main, ["train", str(project)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: DataLoader.load_data raised NameError: name 'missing_name'")
    assert line.endswith("source/data/data_loader.py:19)")
    assert not (project / "model_bin").exists()


def test_bad_options_are_usage_errors() -> None:
    result = CliRunner().invoke(main, ["train", ".", "--test-size", "1.5"])
    assert result.exit_code == 2
    assert "Invalid value for '--test-size'" in result.stderr


def test_the_trained_project_checks(trained: Trained) -> None:
    result = nervosum("check", ".", env=environment(), cwd=trained.project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "ready to serve: nervosum serve ."


def test_a_block_key_outside_the_block_stops_train_before_it_runs(tmp_path: Path) -> None:
    project = tmp_path / "twice"
    create_project("twice", project, "training")
    config = project / "nervosum.yaml"
    config.write_text(config.read_text() + "id_field: ID\n")
    before = config.read_text()
    result = CliRunner().invoke(main, ["train", str(project)])
    assert result.exit_code == 2
    first, hint = result.stderr.splitlines()
    assert "sets id_field (line" in first and "outside the block nervosum train writes" in first
    assert hint.startswith("hint: remove it")
    assert result.stdout == ""
    assert not (project / "model_bin").exists()
    assert config.read_text() == before


def test_a_model_path_outside_src_stops_train_before_it_runs(tmp_path: Path) -> None:
    project = tmp_path / "outside"
    create_project("outside", project, "training")
    elsewhere = tmp_path / "elsewhere" / "model.joblib"
    result = CliRunner().invoke(main, ["train", str(project), "--model-path", str(elsewhere)])
    assert result.exit_code == 2
    assert "is outside the project's src folder" in result.stderr.splitlines()[0]
    assert result.stdout == ""
    assert not elsewhere.parent.exists()


def test_the_image_gives_the_app_user_a_writable_logs_folder() -> None:
    """The template logs to logs/predictions.jsonl under /bundle/app, which root owns in
    the image: the final stage (the one that runs) makes logs/ the app user's."""
    from importlib.resources import files

    dockerfile = (files("nervosum") / "templates" / "build" / "Dockerfile").read_text()
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    user = re.search(r"^USER (\d+):(\d+)$", final, re.M)
    assert user is not None
    made = f"RUN mkdir -p /bundle/app/logs && chown {user[1]}:{user[2]} /bundle/app/logs"
    assert made in final
    assert final.index("COPY app/ /bundle/app/") < final.index(made) < final.index("USER ")
