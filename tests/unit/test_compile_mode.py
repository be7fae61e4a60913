"""`--compile` / `--no-compile` and NERVOSUM_COMPILE reach every process that loads the
project, and an in-process command leaves the environment as it found it."""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LinearRegression

from nervosum.cli import main
from nervosum.errors import ConfigError
from nervosum.project import load_config


@pytest.fixture
def model(tmp_path: Path) -> Path:
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), tmp_path / "m.joblib")
    return tmp_path / "m.joblib"


def test_the_environment_sets_the_mode(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config(model).config.model_spec.compile.mode == "auto"
    monkeypatch.setenv("NERVOSUM_COMPILE", "off")
    assert load_config(model).config.model_spec.compile.mode == "off"
    monkeypatch.setenv("NERVOSUM_COMPILE", "fast")
    with pytest.raises(ConfigError, match="NERVOSUM_COMPILE='fast' is not one of auto, onnx, off"):
        load_config(model)


def test_the_flags_set_it_for_the_command_and_put_it_back(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NERVOSUM_COMPILE", raising=False)
    result = CliRunner().invoke(main, ["check", str(model), "--no-compile"])
    assert result.exit_code == 0, result.output
    assert "served by scikit-learn" in result.output and "model.compile: off" in result.output
    assert "NERVOSUM_COMPILE" not in os.environ
    compiled = CliRunner().invoke(main, ["check", str(model), "--compile"])
    assert compiled.exit_code == 0, compiled.output
    assert "served by onnxruntime" in compiled.output
