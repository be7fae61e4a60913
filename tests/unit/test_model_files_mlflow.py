"""MLflow model folders saved by MLflow itself: the native flavor serves, the signature
becomes the schema, the input example the example rows (issue 21)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from nervosum.model.files import Feature
from nervosum.model.files.read import detect_format, infer_mapping, read_model_file

mlflow = pytest.importorskip("mlflow")  # the [mlflow] extra: installed in dev

IRIS = load_iris(as_frame=True)
X: pd.DataFrame = IRIS.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
Y = IRIS.target
ARRAY = X.to_numpy(dtype=np.float64)
FLOATS = tuple(Feature(name, "float") for name in X.columns)


def _save(save, *args, **kwargs) -> None:
    # Given, not inferred: MLflow infers them by running the model in a subprocess (2.6 s).
    kwargs.setdefault("pip_requirements", ["mlflow", "scikit-learn"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's advice on pickles and type hints
        save(*args, **kwargs)


def _read(folder: Path):
    return read_model_file(folder, project_dir=folder, src_dir=folder)


def test_an_sklearn_flavor_folder_serves_the_estimator(tmp_path: Path) -> None:
    import mlflow.sklearn

    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y)
    folder = tmp_path / "forest"
    _save(
        mlflow.sklearn.save_model,
        forest,
        folder,
        serialization_format="cloudpickle",
        input_example=X.head(2),
    )
    assert detect_format(folder) == detect_format(folder / "MLmodel") == "mlflow"
    read = _read(folder)
    assert (read.format, read.flavor, read.runner.takes) == ("mlflow", "sklearn", "array")
    assert read.features == FLOATS and read.named
    assert read.example == X.head(2).to_dict(orient="records")
    assert read.requirements == folder / "requirements.txt"
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert (predictions == forest.predict(X)).all()
    assert np.array_equal(probabilities, forest.predict_proba(X))
    mapping = infer_mapping(folder)
    assert mapping["name"] == "forest"
    assert mapping["model"] == {"artifact": "MLmodel"}
    assert mapping["requirements"] == "requirements.txt"
    assert mapping["input_schema"][0] == {"name": "sepal_length", "type": "float"}
    assert "output_schema" not in mapping  # MLflow names no output column


def test_an_xgboost_booster_flavor_without_signature(tmp_path: Path) -> None:
    import mlflow.xgboost
    import xgboost

    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3}, xgboost.DMatrix(ARRAY, Y), 3
    )
    _save(mlflow.xgboost.save_model, booster, tmp_path / "xgb")
    read = _read(tmp_path / "xgb")
    assert read.flavor == "xgboost" and read.classes == ("0", "1", "2")
    assert [f.name for f in read.features or ()] == ["f0", "f1", "f2", "f3"]
    assert read.example is None
    probabilities = read.runner.run(ARRAY, True)[1]
    assert np.allclose(probabilities, booster.predict(xgboost.DMatrix(ARRAY)), atol=1e-6)


def test_a_lightgbm_sklearn_api_flavor(tmp_path: Path) -> None:
    import lightgbm
    import mlflow.lightgbm

    clf = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, Y)
    _save(mlflow.lightgbm.save_model, clf, tmp_path / "lgb", input_example=X.head(1))
    read = _read(tmp_path / "lgb")
    assert read.flavor == "lightgbm" and read.runner.takes == "array"
    assert read.features == FLOATS
    predictions, probabilities = read.runner.run(ARRAY, True)
    assert (predictions == clf.predict(X)).all()
    assert np.allclose(probabilities, clf.predict_proba(X), atol=1e-12)


def test_a_custom_pyfunc_takes_frames(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow.pyfunc warns about type hints
        import mlflow.pyfunc

        class _Sum(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context, model_input, params=None):
                return model_input.sum(axis=1)

    _save(
        mlflow.pyfunc.save_model,
        tmp_path / "custom",
        python_model=_Sum(),
        input_example=X.head(2),
    )
    read = _read(tmp_path / "custom")
    assert (read.flavor, read.runner.takes, read.classes) == ("python_function", "frame", None)
    assert read.features == FLOATS
    assert read.outputs is None
    predictions, probabilities = read.runner.run(X.head(3), True)
    assert probabilities is None
    assert np.allclose(np.asarray(predictions).reshape(-1), X.head(3).sum(axis=1))


def test_a_signature_in_another_order_keeps_the_models_own_column_order(tmp_path: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    from nervosum.engine import Engine
    from nervosum.project import load_config

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 0.0], "b": [0.0, 0.0, 1.0, 2.0]})
    model = LinearRegression().fit(frame, 3 * frame["a"] - 5 * frame["b"])
    folder = tmp_path / "swapped"
    signature = infer_signature(frame[["b", "a"]], model.predict(frame))
    _save(
        mlflow.sklearn.save_model,
        model,
        folder,
        serialization_format="cloudpickle",
        signature=signature,
    )
    engine = Engine.load(load_config(folder))
    assert [f.name for f in engine.model_fields] == ["a", "b"]
    (answer,) = engine.predict([{"a": 1.0, "b": 0.0}])
    assert answer["prediction"] == pytest.approx(3.0)


def test_a_signature_naming_other_inputs_than_the_model_is_refused(tmp_path: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from nervosum.errors import ModelDefinitionError

    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    folder = tmp_path / "renamed"
    other = X.rename(columns={"sepal_length": "length"})
    _save(
        mlflow.sklearn.save_model,
        forest,
        folder,
        serialization_format="cloudpickle",
        signature=infer_signature(other, Y),
    )
    with pytest.raises(ModelDefinitionError, match="not the ones the model was trained on"):
        _read(folder)


def test_lightgbm_spelling_of_a_name_with_spaces_still_matches_the_signature(
    tmp_path: Path,
) -> None:
    import lightgbm
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    frame = X.rename(columns={"petal_length": "petal length"})
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, Y)
    folder = tmp_path / "spaced"
    _save(mlflow.lightgbm.save_model, model, folder, signature=infer_signature(frame, Y))
    read = _read(folder)
    assert [f.name for f in read.features or ()] == list(frame.columns)
    predictions, _ = read.runner.run(frame.to_numpy(np.float64), False)
    assert (predictions == model.predict(frame)).all()
