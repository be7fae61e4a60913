"""nervosum/proof-of-concepts' 1-python-wrapper, as published, served by nervosum.

The folder is copied unchanged from tests/data/seeds, trained the way its users did (its
own ``training/train.py`` run from the folder), then detected, served, and asked the
same rows as the module's own ``predict``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from sklearn.datasets import load_iris
from starlette.testclient import TestClient

from nervosum import Engine, load_config
from nervosum.cli import main
from nervosum.serving.app import create_app
from tests.conftest import live_server

SEED = Path(__file__).resolve().parents[1] / "data" / "seeds" / "nervosum__proof-of-concepts"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# The request of the wrapper's README.
README_ROW = {"sepal_length": 1.2, "sepal_width": 3.4, "petal_length": 3.4, "petal_width": 5.9}
# The module itself, imported as its wrapper did (`PYTHONPATH=.` in the folder).
OWN_PREDICT = (
    "import json, sys; import pandas as pd; from model.model import predict; "
    "print(json.dumps(predict(pd.DataFrame(json.load(sys.stdin))).to_dict('records')))"
)


def copy_of_the_seed(parent: Path) -> Path:
    folder = parent / "1-python-wrapper"
    shutil.copytree(SEED / "1-python-wrapper", folder)
    return folder


def run(folder: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": "."},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def detect(folder: Path) -> str:
    result = CliRunner().invoke(main, ["init", "--detect", str(folder)])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def rows() -> list[dict[str, float]]:
    frame = pd.DataFrame(load_iris().data, columns=FEATURES).iloc[::15]
    return [README_ROW, *frame.to_dict("records")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy trained twice, as the second README does (`train.py ./models` repeatedly)."""
    folder = copy_of_the_seed(tmp_path_factory.mktemp("poc"))
    run(folder, "training/train.py", "models")
    first = next((folder / "models").iterdir())
    first.rename(first.with_name(str(int(first.name) - 100)))  # an older version
    run(folder, "training/train.py", "models")
    detect(folder)
    return folder


@pytest.fixture(scope="module")
def expected(trained: Path, rows: list[dict[str, float]]) -> list[dict[str, int]]:
    answer: list[dict[str, int]] = json.loads(
        run(trained, "-c", OWN_PREDICT, stdin=json.dumps(rows))
    )
    return answer


def test_detect_writes_the_function_schema_and_newest_version(trained: Path) -> None:
    newest = max(p.name for p in (trained / "models").iterdir())

    config = yaml.safe_load((trained / "nervosum.yaml").read_text())

    assert config == {
        "name": "1-python-wrapper",
        "tag": newest,
        "model": {"module": "model.model", "function": "predict"},
        "requirements": "requirements.txt",
        "input_schema": [{"name": name, "type": "float"} for name in FEATURES],
        "output_schema": [{"name": "prediction", "type": "int"}],
    }


def test_detect_refuses_to_overwrite_and_says_what_it_found(tmp_path: Path) -> None:
    folder = copy_of_the_seed(tmp_path)
    output = detect(folder)
    again = CliRunner().invoke(main, ["init", "--detect", str(folder)])

    assert "detected the function form" in output
    assert "model: {module: model.model, function: predict}" in output
    assert f"next: nervosum check {folder} && nervosum serve {folder}" in output
    assert again.exit_code == 2
    assert f"error: {folder / 'nervosum.yaml'} already exists" in again.stderr
    assert "--force" in again.stderr


def test_served_over_http_answers_as_the_modules_own_predict(
    trained: Path, rows: list[dict[str, float]], expected: list[dict[str, int]]
) -> None:
    with live_server(trained) as server, server.client() as client:
        many = client.post("/predict", json=rows)
        one = client.post("/predict", json=README_ROW)
        info = client.get("/info").json()

    assert many.status_code == 200, many.text
    assert many.json() == expected
    assert one.json() == expected[0]
    assert info["model"] == "model.model.predict"
    assert info["version"] == max(p.name for p in (trained / "models").iterdir())


def test_predict_and_batch_commands_answer_as_the_module(
    trained: Path, rows: list[dict[str, float]], expected: list[dict[str, int]], tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    out = tmp_path / "scores.csv"

    predicted = CliRunner().invoke(main, ["predict", str(trained), "--input", str(source)])
    batch = CliRunner().invoke(
        main, ["batch", str(trained), "--input", str(source), "--output", str(out), "-w", "1"]
    )

    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout) == expected
    assert batch.exit_code == 0, batch.output
    assert pd.read_csv(out)["prediction"].tolist() == [r["prediction"] for r in expected]


def test_an_untrained_copy_trains_at_load_as_the_module_does(tmp_path: Path) -> None:
    folder = copy_of_the_seed(tmp_path)
    detect(folder)
    config = yaml.safe_load((folder / "nervosum.yaml").read_text())
    project = load_config(folder)

    with TestClient(create_app(project, engine=Engine.load(project))) as client:
        answer = client.post("/predict", json=README_ROW)

    assert config["tag"] == "latest"
    assert "input_schema" not in config
    assert answer.status_code == 200, answer.text
    assert answer.json()["prediction"] in (0, 1, 2)
    (version,) = (folder / "models").iterdir()
    assert (version / "model.joblib").is_file()


def test_served_without_a_nervosum_yaml_as_if_detected(
    tmp_path: Path, rows: list[dict[str, float]]
) -> None:
    folder = copy_of_the_seed(tmp_path)
    run(folder, "training/train.py", "models")
    own = json.loads(run(folder, "-c", OWN_PREDICT, stdin=json.dumps(rows)))

    with live_server(folder) as server, server.client() as client:
        answers = client.post("/predict", json=rows).json()
        schema = client.get("/schema").json()

    assert not (folder / "nervosum.yaml").exists()
    assert answers == own
    assert [f["name"] for f in schema["input_schema"]] == FEATURES
