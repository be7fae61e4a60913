"""Model files read as they are: each format answers through its runner exactly what its
own library predicts offline, and says what it knows of its features (issue 21)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nervosum.model.files import Feature
from nervosum.model.files.read import detect_format, read_model_file

IRIS = load_iris(as_frame=True)
X: pd.DataFrame = IRIS.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
Y = IRIS.target
ARRAY = X.to_numpy(dtype=np.float64)
NAMES = tuple(X.columns)


def _read(path: Path, probabilities: bool = True):
    return read_model_file(
        path, project_dir=path.parent, src_dir=path.parent, probabilities=probabilities
    )


def test_a_forest_pickle_answers_as_scikit_learn_on_arrays(tmp_path: Path) -> None:
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y)
    joblib.dump(forest, tmp_path / "forest.joblib")
    read = _read(tmp_path / "forest.joblib")
    assert (read.format, read.runner.takes, read.named) == ("sklearn", "array", True)
    assert read.features == tuple(Feature(name, "float") for name in NAMES)
    assert read.classes == read.runner.classes == ("0", "1", "2")
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert (predictions == forest.predict(X)).all()
    assert np.array_equal(probabilities, forest.predict_proba(X))
    assert read.runner.runtime.startswith("scikit-learn ")


def test_probabilities_off_gives_a_runner_without_classes(tmp_path: Path) -> None:
    joblib.dump(LogisticRegression(max_iter=500).fit(ARRAY, Y), tmp_path / "m.pkl")
    read = _read(tmp_path / "m.pkl", probabilities=False)
    assert read.runner.classes is None
    assert read.runner.run(ARRAY[:3], True)[1] is None


def test_an_unnamed_estimator_gets_f0_to_fn_and_a_note(tmp_path: Path) -> None:
    joblib.dump(LinearRegression().fit(ARRAY, Y), tmp_path / "linear.sav")
    read = _read(tmp_path / "linear.sav")
    assert read.named is False
    assert [f.name for f in read.features or ()] == ["f0", "f1", "f2", "f3"]
    assert read.notes == ("linear.sav has no feature names: the inputs are f0..f3",)
    assert read.classes is None and read.runner.classes is None
    assert np.allclose(
        read.runner.run(ARRAY, True)[0], LinearRegression().fit(ARRAY, Y).predict(ARRAY)
    )


def test_a_pipeline_with_a_text_column_takes_a_frame_and_types_it(tmp_path: Path) -> None:
    frame = X.assign(colour=np.where(Y == 0, "red", "blue"))
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [("text", OneHotEncoder(), ["colour"]), ("nums", StandardScaler(), list(NAMES))]
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, Y)
    joblib.dump(pipeline, tmp_path / "pipe.pkl")
    read = _read(tmp_path / "pipe.pkl")
    assert read.runner.takes == "frame"
    assert {f.name: f.type for f in read.features or ()} == {
        **dict.fromkeys(NAMES, "float"),
        "colour": "str",
    }
    assert (read.runner.run(frame, False)[0] == pipeline.predict(frame)).all()


def test_a_numeric_pipeline_takes_arrays(tmp_path: Path) -> None:
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500))]
    ).fit(X, Y)
    joblib.dump(pipeline, tmp_path / "scaled.joblib")
    read = _read(tmp_path / "scaled.joblib")
    assert read.runner.takes == "array"
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert (predictions == pipeline.predict(X)).all()
    assert np.allclose(probabilities, pipeline.predict_proba(X), rtol=0, atol=1e-12)


def test_a_pickle_under_another_name_is_recognised_by_its_bytes(tmp_path: Path) -> None:
    joblib.dump(LinearRegression().fit(ARRAY, Y), tmp_path / "model.bin")
    assert detect_format(tmp_path / "model.bin") == "sklearn"


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_a_native_xgboost_booster_answers_as_xgboost(tmp_path: Path, suffix: str) -> None:
    import xgboost

    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3}, xgboost.DMatrix(X, Y), 5
    )
    path = tmp_path / f"booster{suffix}"
    booster.save_model(path)
    assert detect_format(path) == "xgboost"
    read = _read(path)
    assert read.features == tuple(Feature(name, "float") for name in NAMES)
    assert read.classes == ("0", "1", "2")
    predictions, probabilities = read.runner.run(ARRAY, True)
    expected = booster.predict(xgboost.DMatrix(X))
    assert np.allclose(probabilities, expected, rtol=0, atol=1e-6)
    assert (predictions == expected.argmax(axis=1)).all()


@pytest.mark.parametrize("objective", ["binary:logistic", "binary:logitraw", "multi:softmax"])
def test_xgboost_objectives_give_classes_and_probabilities(tmp_path: Path, objective: str) -> None:
    import xgboost

    binary = objective.startswith("binary")
    labels = (Y == 2).astype(int) if binary else Y
    clf = xgboost.XGBClassifier(n_estimators=5, objective=objective).fit(ARRAY, labels)
    clf.save_model(tmp_path / "clf.json")
    read = _read(tmp_path / "clf.json")
    assert read.named is False and read.features is not None and len(read.features) == 4
    assert read.classes == (("0", "1") if binary else ("0", "1", "2"))
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert (predictions == clf.predict(ARRAY)).all()
    if objective == "binary:logistic":  # the others' sklearn predict_proba is a margin
        assert np.allclose(probabilities, clf.predict_proba(ARRAY), rtol=0, atol=1e-6)
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_an_xgboost_regressor_gives_values(tmp_path: Path) -> None:
    import xgboost

    reg = xgboost.XGBRegressor(n_estimators=5).fit(X, Y.astype(float))
    reg.save_model(tmp_path / "reg.ubj")
    read = _read(tmp_path / "reg.ubj")
    assert read.classes is None
    values, probabilities = read.runner.run(ARRAY, True)
    assert probabilities is None
    assert np.allclose(values, reg.predict(X), rtol=1e-6)


@pytest.mark.parametrize("named", [True, False])
def test_a_lightgbm_file_answers_as_lightgbm(tmp_path: Path, named: bool) -> None:
    import lightgbm

    data = X if named else ARRAY
    booster = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lightgbm.Dataset(data, Y),
        num_boost_round=5,
    )
    booster.save_model(tmp_path / "model.txt")
    assert detect_format(tmp_path / "model.txt") == "lightgbm"
    read = _read(tmp_path / "model.txt")
    assert read.named is named
    expected_names = list(NAMES) if named else ["f0", "f1", "f2", "f3"]
    assert [f.name for f in read.features or ()] == expected_names
    assert read.classes == ("0", "1", "2")
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert np.allclose(probabilities, booster.predict(ARRAY), rtol=0, atol=1e-12)
    assert (predictions == booster.predict(ARRAY).argmax(axis=1)).all()


def test_a_binary_lightgbm_classifier_and_a_regressor(tmp_path: Path) -> None:
    import lightgbm

    clf = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(ARRAY, (Y == 1).astype(int))
    clf.booster_.save_model(tmp_path / "binary.txt")
    read = _read(tmp_path / "binary.txt")
    assert read.classes == ("0", "1")
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert (predictions == clf.predict(ARRAY)).all()
    assert np.allclose(probabilities, clf.predict_proba(ARRAY), rtol=0, atol=1e-12)
    reg = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(ARRAY, Y.astype(float))
    reg.booster_.save_model(tmp_path / "reg.txt")
    read = _read(tmp_path / "reg.txt")
    assert read.classes is None
    assert np.allclose(read.runner.run(ARRAY, True)[0], reg.predict(ARRAY))
