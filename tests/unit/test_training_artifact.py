"""The saved artifact serves through the ordinary artifact form, with its own identity."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import joblib
import pytest

from nervosum.engine import Engine
from nervosum.errors import ModelDefinitionError
from nervosum.project import load_config
from nervosum.training import TrainedModel, train_project
from nervosum.training.artifact import library_versions, save_artifact
from tests.unit.test_training_run import regression_project, write_project

CONFIG = """\
name: tiny
tag: v3
id_field: key
model: {artifact: model_bin/model.joblib}
input_schema:
  - {name: x, type: float}
  - {name: n, type: int}
"""


def saved(project: Path) -> TrainedModel:
    """Train ``project``, save its artifact where CONFIG points, and write CONFIG."""
    artifact = train_project(project).artifact
    save_artifact(artifact, project / "model_bin" / "model.joblib")
    (project / "nervosum.yaml").write_text(CONFIG, encoding="utf-8")
    return artifact


def test_a_classifier_serves_with_its_classes_and_identity(tmp_path: Path) -> None:
    artifact = saved(write_project(tmp_path))
    engine = Engine.load(load_config(tmp_path))
    handle = engine.handle
    assert isinstance(handle.loaded.instance, TrainedModel)
    assert handle.is_classifier
    assert handle.classes == ("high", "low")
    assert handle.identity.uuid == artifact.id
    assert handle.identity.created == artifact.creation_time
    (low, high) = engine.predict([{"key": "a", "x": 0.1, "n": 0}, {"x": 3.5, "n": 1}])
    assert low["key"] == "a" and low["prediction"] == "low"
    assert high["prediction"] == "high"
    assert sum(high["probabilities"].values()) == pytest.approx(1.0)
    assert engine.info()["classes"] == ["high", "low"]


def test_a_regression_serves_without_probabilities(tmp_path: Path) -> None:
    saved(regression_project(tmp_path))
    engine = Engine.load(load_config(tmp_path))
    assert not engine.handle.is_classifier
    (answer,) = engine.predict([{"x": 1.0, "n": 1}])
    assert set(answer) == {"prediction"}
    assert answer["prediction"] == pytest.approx(3.0, abs=0.5)


def test_every_artifact_has_a_uuid_and_a_utc_creation_time(tmp_path: Path) -> None:
    artifact = train_project(write_project(tmp_path)).artifact
    assert str(uuid.UUID(artifact.id)) == artifact.id
    assert artifact.creation_time.endswith("Z")
    assert datetime.fromisoformat(artifact.creation_time).utcoffset() is not None


def test_the_saved_file_holds_everything(tmp_path: Path) -> None:
    artifact = train_project(write_project(tmp_path)).artifact
    path = tmp_path / "out" / "deep" / "model.joblib"
    save_artifact(artifact, path)
    loaded = joblib.load(path)
    assert isinstance(loaded, TrainedModel)
    assert (loaded.id, loaded.creation_time) == (artifact.id, artifact.creation_time)
    assert loaded.classes == ["high", "low"]
    assert loaded.metrics == artifact.metrics
    assert loaded.features == artifact.features
    assert loaded.versions == artifact.versions
    assert type(loaded.preprocessor).__name__ == "Preprocessor"
    assert [p.name for p in path.parent.iterdir()] == ["model.joblib"]  # no partial file left


def test_a_model_that_cannot_be_saved_leaves_no_file(tmp_path: Path) -> None:
    artifact = train_project(write_project(tmp_path)).artifact
    artifact.preprocessor.hook = lambda frame: frame  # lambdas do not pickle
    path = tmp_path / "model_bin" / "model.joblib"
    with pytest.raises(ModelDefinitionError) as caught:
        save_artifact(artifact, path)
    assert caught.value.message.startswith("the trained model could not be saved: ")
    assert caught.value.hint is not None and "lambdas" in caught.value.hint
    assert list(path.parent.iterdir()) == []


def test_versions_name_python_the_libraries_and_the_models_own_package(tmp_path: Path) -> None:
    import lightgbm

    versions = library_versions(lightgbm.LGBMClassifier())
    assert set(versions) >= {"python", "nervosum", "numpy", "pandas", "scikit-learn", "lightgbm"}
    assert versions["lightgbm"] == lightgbm.__version__


def test_a_failed_atomic_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    """One helper saves both kinds of model (TrainedModel and a template checkout's)."""
    from nervosum.training.artifact import write_atomically
    from nervosum.training.template import save_checkout_model

    path = tmp_path / "model_bin/model.pkl"
    write_atomically(path, lambda out: out.write(b"old"), "the model")

    def half_then_fail(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(ModelDefinitionError, match="the model could not be saved: OSError"):
        write_atomically(path, half_then_fail, "the model")
    with pytest.raises(ModelDefinitionError, match="the trained Model could not be saved"):
        save_checkout_model(lambda: None, path, tmp_path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pkl"]
