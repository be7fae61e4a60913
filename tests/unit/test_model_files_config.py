"""A model file (or an MLflow folder) named instead of a project folder validates as if
its nervosum.yaml were written, and ``nervosum init --from`` writes that file (issue 21)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import yaml
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from nervosum.cli import main
from nervosum.model.files import last
from nervosum.model.files.read import infer_mapping
from nervosum.project import load_config

ROWS = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
LABELS = np.array([0, 1, 0, 1])


def _save(folder: Path, name: str = "churn model.joblib") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    joblib.dump(LogisticRegression().fit(ROWS, LABELS), path)
    return path


def test_a_model_file_is_a_project_of_its_folder(tmp_path: Path) -> None:
    path = _save(tmp_path / "models")
    project = load_config(path)
    assert project.project_dir == path.parent.resolve()
    assert project.config.name == "churn-model"
    assert project.config.model_spec.artifact == "churn model.joblib"
    assert [(f.name, f.type) for f in project.config.input_schema] == [
        ("f0", "float"),
        ("f1", "float"),
    ]
    assert project.inferred_from == "the model file churn model.joblib"
    assert "settings inferred from the model file churn model.joblib" in project.shown


def test_the_second_read_of_a_file_is_free_until_it_changes(tmp_path: Path) -> None:
    path = _save(tmp_path)
    loads: list[Path] = []

    def load(p: Path) -> object:
        loads.append(p)
        return object()

    first = last.last_read(path, load, "test")
    assert last.last_read(path, load, "test") is first and len(loads) == 1
    _save(tmp_path, path.name)  # rewritten: read again
    assert last.last_read(path, load, "test") is not first and len(loads) == 2


def test_init_from_writes_the_inferred_nervosum_yaml(tmp_path: Path) -> None:
    path = _save(tmp_path / "m", "model.pkl")
    result = CliRunner().invoke(main, ["init", "--from", str(path)])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((path.parent / "nervosum.yaml").read_text(encoding="utf-8"))
    assert written == infer_mapping(path)
    assert written["model"] == {"artifact": "model.pkl"}
    assert load_config(path.parent).config.model_spec.artifact == "model.pkl"
    again = CliRunner().invoke(main, ["init", "--from", str(path)])
    assert again.exit_code == 2 and "already exists" in again.output
    forced = CliRunner().invoke(main, ["init", "--from", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
