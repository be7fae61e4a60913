"""Tests for the model, run with `pytest` from the project folder."""

from pathlib import Path

import pandas as pd

from model.model import Model
from nervosum import Engine, load_config

PROJECT = Path(__file__).resolve().parents[1]


def test_predict_returns_one_row_per_input():
    frame = pd.DataFrame({"tenure_months": [1.0, 60.0], "monthly_spend": [120.0, 10.0]})
    result = Model().predict(frame)
    assert list(result["label"]) == ["churn", "stay"]


def test_served_prediction_matches_the_schema():
    engine = Engine.load(load_config(PROJECT))
    records, _ = engine.inputs.parse_json(b'{"id": "a1", "tenure_months": 3, "monthly_spend": 95}')
    (output,) = engine.predict(records)
    assert output["id"] == "a1"
    assert output["label"] in ("churn", "stay")
