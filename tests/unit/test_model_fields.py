"""A model file's columns go in the order it was trained on, whatever order the schema
lists them in: an array is read by position."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from nervosum.engine import Engine
from nervosum.errors import ModelDefinitionError
from nervosum.project import load_config


def project(tmp_path: Path, schema: str, compile_mode: str) -> Path:
    rows = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 10.0, 0.0, 10.0]})
    model = LinearRegression().fit(rows, rows["a"] + 100 * rows["b"])
    joblib.dump(model, tmp_path / "model.joblib")
    (tmp_path / "nervosum.yaml").write_text(
        f"name: ordered\nmodel: {{artifact: model.joblib, compile: {compile_mode}}}\n{schema}",
        encoding="utf-8",
    )
    return tmp_path


@pytest.mark.parametrize("compile_mode", ["auto", "off"])
def test_a_schema_in_another_order_still_feeds_the_trained_order(
    tmp_path: Path, compile_mode: str
) -> None:
    schema = "input_schema:\n- {name: b, type: float}\n- {name: a, type: float}\n"
    engine = Engine.load(load_config(project(tmp_path, schema, compile_mode)))
    (answer,) = engine.predict([{"a": 1.0, "b": 2.0}])
    assert answer["prediction"] == pytest.approx(201.0)
    assert [f.name for f in engine.model_fields] == ["a", "b"]
    assert isinstance(engine.handle.inputs([{"a": 1.0, "b": 2.0}], exclude=None), np.ndarray)


def test_a_schema_without_one_of_the_models_features_is_refused_at_load(tmp_path: Path) -> None:
    schema = "input_schema:\n- {name: b, type: float}\n"
    with pytest.raises(ModelDefinitionError, match="takes a, which input_schema does not declare"):
        Engine.load(load_config(project(tmp_path, schema, "auto")))
