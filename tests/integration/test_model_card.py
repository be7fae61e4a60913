"""``GET /card`` (docs/monitoring.md, "Model card"): identity, schemas, classes, runtime
and compile check, the held-out figures a trained model carries, and the versions of its
dependencies as installed here."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from starlette.testclient import TestClient

from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.app import create_app

FEATURES = ["sl", "sw", "pl", "pw"]
TRAINED = """
class Model:
    metrics = {"accuracy": 0.93, "f1_macro": 0.92}

    def predict(self, frame):
        return ["yes"] * len(frame)
"""


def card_of(folder: Path) -> dict[str, Any]:
    project = load_config(folder)
    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        answer = client.get("/card")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_compiled_forest_card_names_its_runtime_classes_and_pinned_libraries(
    tmp_path: Path,
) -> None:
    data = load_iris()
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    forest.fit(pd.DataFrame(data.data, columns=FEATURES), data.target)
    folder = tmp_path / "forest"
    folder.mkdir()
    joblib.dump(forest, folder / "model.joblib")
    (folder / "requirements.txt").write_text("pandas\nclick==0.1\n")
    schema = "".join(f"  - {{name: {name}, type: float}}\n" for name in FEATURES)
    (folder / "nervosum.yaml").write_text(
        "name: iris\ntag: v3\nrequirements: requirements.txt\n"
        f"model: {{artifact: model.joblib}}\ninput_schema:\n{schema}"
    )
    card = card_of(folder)
    dependencies = card["dependencies"]
    assert card["name"] == "iris" and card["version"] == "v3" and card["uuid"]
    assert card["classes"] == ["0", "1", "2"]
    assert str(card["runtime"]).startswith("onnxruntime")
    assert isinstance(card["compile"], dict)
    assert [field["name"] for field in card["input_schema"]] == FEATURES
    assert dependencies["scikit-learn"] == md.version("scikit-learn")  # the model's library
    assert dependencies["pandas"] == md.version("pandas")  # the requirements file
    assert dependencies["numpy"] == md.version("numpy")  # what those need in turn
    assert dependencies["nervosum"] == md.version("nervosum")
    assert card["training_metrics"] is None and card["reference"] is None
    installed = md.version("click")
    assert card["dependencies_unresolved"] == [f"click==0.1 (installed {installed})"]


def test_a_trained_model_card_carries_its_held_out_figures(tmp_path: Path) -> None:
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / "model.py").write_text(TRAINED)
    (folder / "nervosum.yaml").write_text(
        "name: churn\nmodel: {module: model, class: Model}\n"
        "input_schema: [{name: x, type: float}]\n"
    )
    card = card_of(folder)
    assert card["training_metrics"] == {"accuracy": 0.93, "f1_macro": 0.92}
    assert card["runtime"] == "python" and card["classes"] is None
