"""A model file that cannot be read: one line naming the file, the format tried and the
library's error, and exit 2 from the CLI (issue 21)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from nervosum.cli import main
from nervosum.errors import ModelDefinitionError
from nervosum.model.files.read import read_model_file


def _error(path: Path) -> str:
    with pytest.raises(ModelDefinitionError) as caught:
        read_model_file(path, project_dir=path.parent, src_dir=path.parent)
    text = str(caught.value)
    assert "\n" not in text
    return text


def _truncated_pickle(folder: Path) -> Path:
    path = folder / "model.joblib"
    path.write_bytes(pickle.dumps(list(range(1000)), protocol=4)[:100])
    return path


def test_a_truncated_pickle(tmp_path: Path) -> None:
    text = _error(_truncated_pickle(tmp_path))
    assert text.startswith(f"artifact {tmp_path / 'model.joblib'} could not be loaded")
    assert "pickle (joblib)" in text and "hint:" in text


def test_a_text_file_named_onnx(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("not a model\n", encoding="utf-8")
    assert "model.onnx" in _error(path)


def test_a_json_file_that_is_not_xgboost(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text('{"weights": [1, 2]}', encoding="utf-8")
    text = _error(path)
    assert text.startswith("model.json: not a readable XGBoost model (xgboost: XGBoostError: ")


def test_a_file_of_no_known_kind(tmp_path: Path) -> None:
    path = tmp_path / "model.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    assert _error(path).startswith(
        "model.csv: not a scikit-learn pickle, XGBoost, LightGBM or ONNX file"
    )


def _mlmodel(folder: Path, flavors: str) -> Path:
    folder.mkdir()
    (folder / "MLmodel").write_text(f"flavors:\n{flavors}", encoding="utf-8")
    return folder


def test_an_mlmodel_naming_a_missing_file(tmp_path: Path) -> None:
    folder = _mlmodel(tmp_path / "m", "  sklearn:\n    pickled_model: model.pkl\n")
    text = _error(folder)
    assert "the sklearn flavor's pickled_model 'model.pkl' is not in" in text


def test_an_mlmodel_with_no_flavor_nervosum_serves(tmp_path: Path) -> None:
    folder = _mlmodel(tmp_path / "m", "  keras:\n    data: model.keras\n")
    assert "no flavor nervosum serves (it has keras;" in _error(folder)


@pytest.mark.parametrize("kind", ["pickle", "mlflow"])
def test_check_exits_2_with_the_line(tmp_path: Path, kind: str) -> None:
    if kind == "pickle":
        path = _truncated_pickle(tmp_path)
        expected = "could not be loaded as a pickle (joblib)"
    else:
        path = _mlmodel(tmp_path / "m", "  sklearn:\n    pickled_model: model.pkl\n")
        expected = "the sklearn flavor's pickled_model 'model.pkl' is not in"
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert expected in result.output
