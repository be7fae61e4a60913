"""`nervosum evaluate` on logs a real server wrote: the figures are scikit-learn's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn import metrics
from starlette.testclient import TestClient

from nervosum.cli import main
from nervosum.engine import Engine
from nervosum.evaluate.drift import psi
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import ProjectFactory, iris_copy

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

REGRESSOR = """
name: doubling
id_field: key
model: {{module: doubling, class: Doubling}}
input_schema:
  - {{name: x, type: float}}
logging:
  sinks:
    - {{type: sqlite, path: '{db}'}}
"""
REGRESSOR_CODE = """
class Doubling:
    def predict(self, frame):
        return (frame["x"] * 2).to_numpy()
"""


def serve(project_dir: Path, bodies: list[Any], feedback: list[Any] | None = None) -> None:
    project = load_config(project_dir)
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        for body in bodies:
            client.post("/predict", json=body)
        if feedback:
            assert client.post("/feedback", json=feedback).status_code == 200


def evaluate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["evaluate", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def iris_log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """150 noisy iris rows through the iris example with a JSON Lines log (every class's
    probability kept), labels for 120 of them, and the training data as reference."""
    from sklearn.datasets import load_iris

    folder = tmp_path_factory.mktemp("iris-log")
    project = iris_copy(folder, "iris")
    log = folder / "log.jsonl"
    with (project / "nervosum.yaml").open("a") as config:
        config.write(
            f"id_field: ID\nlogging:\n  n_best: 3\n  sinks:\n    - {{type: jsonl, path: '{log}'}}\n"
        )
    iris = load_iris(as_frame=True)
    frame = iris.data.set_axis(FEATURES, axis=1)
    noisy = (frame + np.random.default_rng(0).normal(0, 0.4, frame.shape)).round(2)
    bodies: list[Any] = [{"ID": f"f{i}", **row} for i, row in enumerate(noisy.to_dict("records"))]
    bodies.append({"ID": "broken", "sepal_length": "abc"})  # a failed request
    serve(project, bodies)
    labels = pd.DataFrame({"ident": [f"f{i}" for i in range(150)], "truth": iris.target})
    labels = labels.sample(120, random_state=1)
    labels.to_csv(folder / "labels.csv", index=False)
    frame.to_csv(folder / "train.csv", index=False)
    return {"folder": folder, "log": log, "labels": labels}


def test_classification_figures_match_scikit_learn(iris_log: dict[str, Any]) -> None:
    folder, out = iris_log["folder"], iris_log["folder"] / "report"
    code, output = evaluate(
        "--log", str(iris_log["log"]), "--labels", str(folder / "labels.csv"),
        "--id-field", "ident", "--label-field", "truth", "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    figures = json.loads((out / "metrics.json").read_text())

    records = [json.loads(line) for line in iris_log["log"].read_text().splitlines()]
    answered = {r["id"]: r for r in records if r["status"] == "ok"}
    truth_by_id = dict(zip(iris_log["labels"]["ident"], iris_log["labels"]["truth"], strict=True))
    ids = [i for i in answered if i in truth_by_id]
    truth = [str(truth_by_id[i]) for i in ids]
    guess = [str(answered[i]["outputs"]["prediction"]) for i in ids]
    proba = np.array(
        [[{c["class"]: c["probability"] for c in answered[i]["classes"]}[k] for k in "012"]
         for i in ids]
    )  # fmt: skip

    assert (figures["predictions"], figures["labelled"], figures["failed_requests"]) == (
        150,
        120,
        1,
    )
    assert figures["coverage"] == pytest.approx(0.8)
    found = figures["classification"]
    assert found["accuracy"] == pytest.approx(metrics.accuracy_score(truth, guess))
    assert found["f1_macro"] == pytest.approx(metrics.f1_score(truth, guess, average="macro"))
    assert found["recall_macro"] == pytest.approx(
        metrics.recall_score(truth, guess, average="macro")
    )
    assert found["per_class"]["1"]["precision"] == pytest.approx(
        metrics.precision_score(truth, guess, labels=["1"], average=None)[0]
    )
    assert found["confusion_matrix"]["matrix"] == metrics.confusion_matrix(truth, guess).tolist()
    assert found["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(truth, proba, multi_class="ovr", labels=["0", "1", "2"])
    )
    assert found["log_loss"] == pytest.approx(
        metrics.log_loss(truth, proba, labels=["0", "1", "2"])
    )
    assert sum(c["count"] for c in found["calibration"]) == 120
    assert figures["by_day"][0]["labelled"] == 120
    assert "accuracy" in output and "Per class" in output


def test_the_report_is_one_self_contained_page_with_its_charts(iris_log: dict[str, Any]) -> None:
    folder, out = iris_log["folder"], iris_log["folder"] / "drift-report"
    code, output = evaluate(
        "--log", str(iris_log["log"]), "--labels", str(folder / "labels.csv"),
        "--id-field", "ident", "--label-field", "truth",
        "--reference", str(folder / "train.csv"), "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 4  # confusion matrix, calibration, over time, drift
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    drift = {d["feature"]: d for d in json.loads((out / "metrics.json").read_text())["drift"]}
    assert set(drift) == set(FEATURES)
    assert all(d["psi"] > 0 for d in drift.values())  # the inputs were noised


def test_regression_from_sqlite_with_feedback_as_labels(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    project = make_project(REGRESSOR.format(db=db), {"doubling.py": REGRESSOR_CODE})
    xs = np.round(np.linspace(0.1, 9.9, 40), 2)
    noise = np.random.default_rng(3).normal(0, 0.5, len(xs))
    labels = (xs * 2 + noise).round(3)
    feedback = [{"id": f"k{i}", "label": float(v)} for i, v in enumerate(labels[:30])]
    serve(project, [{"key": f"k{i}", "x": float(x)} for i, x in enumerate(xs)], feedback)

    out = tmp_path / "eval"
    code, output = evaluate("--log", f"sqlite:///{db}", "--out", str(out))
    assert code == 0, output
    figures = json.loads((out / "metrics.json").read_text())
    truth, guess = labels[:30], xs[:30] * 2
    assert figures["task"] == "regression" and figures["labelled"] == 30
    found = figures["regression"]
    assert found["mae"] == pytest.approx(metrics.mean_absolute_error(truth, guess))
    assert found["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(truth, guess)))
    assert found["r2"] == pytest.approx(metrics.r2_score(truth, guess))
    assert (out / "report.html").read_text().count("<svg") == 2  # residuals, over time
    with sqlite3.connect(db) as connection:
        (kinds,) = connection.execute("SELECT count(*) FROM predictions WHERE kind='feedback'")
    assert kinds == (30,)

    later = tmp_path / "later"
    code, _ = evaluate("--log", str(db), "--since", "2999-01-01", "--out", str(later))
    assert code == 0
    assert json.loads((later / "metrics.json").read_text())["predictions"] == 0


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    same = np.array([0.25, 0.25, 0.5])
    assert psi(same, same) == 0
    shifted = np.array([0.5, 0.25, 0.25])
    expected = sum((n - r) * np.log(n / r) for r, n in zip(same, shifted, strict=True))
    assert psi(same, shifted) == pytest.approx(expected)


def test_bad_arguments_exit_2_with_a_hint(iris_log: dict[str, Any], tmp_path: Path) -> None:
    code, output = evaluate("--log", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no prediction log at" in output and "hint:" in output
    code, output = evaluate(
        "--log", str(iris_log["log"]), "--labels", str(iris_log["folder"] / "labels.csv"),
        "--out", str(tmp_path / "x"),
    )  # fmt: skip
    assert code == 2 and "has no column 'id', 'label'" in output and "ident" in output
    code, output = evaluate("--log", str(iris_log["log"]), "--since", "yesterday")
    assert code == 2 and "--since" in output


def test_feedback_command_adds_labels_from_a_file(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    project = make_project(REGRESSOR.format(db=db), {"doubling.py": REGRESSOR_CODE})
    serve(project, [{"key": f"k{i}", "x": i + 0.5} for i in range(5)])
    truth = tmp_path / "truth.csv"
    truth.write_text("key,y\nk0,1.0\nk1,3.5\nk2,5.0\n")
    result = CliRunner().invoke(
        main, ["feedback", str(project), "--labels", str(truth), "--id-field", "key",
               "--label-field", "y"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 labels written to sqlite" in result.output
    out = tmp_path / "eval"
    code, output = evaluate("--log", str(db), "--out", str(out))
    assert code == 0, output
    figures = json.loads((out / "metrics.json").read_text())
    assert figures["labelled"] == 3
    assert figures["regression"]["mae"] == pytest.approx((0 + 0.5 + 0) / 3)


def test_feedback_command_needs_a_logging_block(make_project: ProjectFactory, tmp_path) -> None:
    project = make_project(
        "name: plain\nmodel: {module: doubling, class: Doubling}\n",
        {"doubling.py": REGRESSOR_CODE},
    )
    (tmp_path / "t.csv").write_text("id,label\na,1\n")
    result = CliRunner().invoke(
        main, ["feedback", str(project), "--labels", str(tmp_path / "t.csv")]
    )
    assert result.exit_code == 2
    assert "has no logging block" in result.output and "hint:" in result.output
