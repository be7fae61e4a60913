"""The conformance corpus of issue 21: model files of every format nervosum serves as they
are, built here from the datasets that ship with scikit-learn (no downloads, fixed seeds),
each with the rows to send and what its own library answers for them offline.

Every model lives alone in a folder named after it (``<root>/<name>/<file>``), so the
same tree is a folder of model folders for ``serve-repo`` and each ``path`` serves alone.
The rows are a few ordinary training rows plus the training rows nearest a decision
boundary (the smallest gap between the two likeliest classes), where a runtime that
rounds differently would answer another class first.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import joblib
import numpy as np
import pandas as pd

ROWS = 6  # rows sent per model: 3 ordinary, 3 nearest a boundary (classifiers)
# The requirements MLflow would write: given, since inferring them runs the model in a
# subprocess (2.6 s a folder).
PIP_REQUIREMENTS = {
    "scikit-learn": ["mlflow", "scikit-learn", "skops"],
    "xgboost": ["mlflow", "xgboost"],
    "lightgbm": ["mlflow", "lightgbm"],
    "onnx": ["mlflow", "onnx", "onnxruntime"],
    "pyfunc": ["mlflow", "pandas"],
}
SEED = 0
WEIGHTS = [0.5, -1.25, 2.0, 0.75, -0.1]  # the custom pyfunc's


@dataclass(frozen=True)
class Expected:
    """What the original library answers for the rows, offline."""

    classes: list[str] | None = None  # the predicted class of each row, as text
    probabilities: list[dict[str, float]] | None = None  # {class: p} per row
    values: list[float] | None = None  # a regressor's predictions


@dataclass(frozen=True)
class Entry:
    """One corpus model: where it is, the rows to send, and the answers to expect."""

    name: str
    format: str
    path: Path  # the model file, or the MLflow folder
    rows: list[dict[str, Any]]
    expected: Expected
    converts: bool  # compile auto serves it through ONNX Runtime (converted, or ONNX)


@dataclass(frozen=True)
class Data:
    """A table of named inputs and its target."""

    frame: pd.DataFrame
    target: np.ndarray


def iris() -> Data:
    from sklearn.datasets import load_iris

    raw = load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return Data(pd.DataFrame(raw.data, columns=names), np.asarray(raw.target))


def cancer() -> Data:
    """Breast cancer, binary; its first eight columns keep the files small."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    names = [f"m{i}" for i in range(8)]
    return Data(pd.DataFrame(raw.data[:, :8], columns=names), np.asarray(raw.target))


def diabetes() -> Data:
    from sklearn.datasets import load_diabetes

    raw = load_diabetes()
    return Data(pd.DataFrame(raw.data, columns=list(raw.feature_names)), raw.target)


def synthetic() -> Data:
    from sklearn.datasets import make_regression

    features, target = make_regression(n_samples=200, n_features=5, noise=3.0, random_state=SEED)
    return Data(pd.DataFrame(features, columns=[f"x{i}" for i in range(5)]), target)


def colored_iris() -> Data:
    """Iris with a text column (its class's colour, flipped on every fifth row so the
    encoder matters without deciding alone) and named classes."""
    base = iris()
    colors = np.array(["red", "green", "blue"])[base.target]
    colors[::5] = np.roll(colors, 1)[::5]
    frame = base.frame.assign(color=colors)
    return Data(frame, np.array(["setosa", "versicolor", "virginica"])[base.target])


def _records(frame: pd.DataFrame, index: list[int]) -> list[dict[str, Any]]:
    picked = frame.iloc[index]
    return [
        {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in row.items()}
        for row in picked.to_dict(orient="records")
    ]


def _ordinary(count: int) -> list[int]:
    return [0, count // 2, count - 1]


def boundary_rows(proba: np.ndarray) -> list[int]:
    """Training rows where the two likeliest classes are closest, plus ordinary ones."""
    ordered = np.sort(proba, axis=1)
    gap = ordered[:, -1] - ordered[:, -2]
    nearest = [int(i) for i in np.argsort(gap, kind="stable")[: ROWS // 2]]
    return sorted(set(_ordinary(len(proba)) + nearest))


def value_rows(count: int) -> list[int]:
    """The rows sent to a regressor: ordinary ones spread over the table."""
    return sorted({*_ordinary(count), 7, 11})


def _text(labels: Any) -> list[str]:
    return [str(label) for label in np.asarray(labels).tolist()]


def _classified(labels: Any, classes: list[str], proba: np.ndarray) -> Expected:
    return Expected(
        classes=_text(labels),
        probabilities=[dict(zip(classes, map(float, p), strict=True)) for p in proba],
    )


def _values(values: Any) -> Expected:
    return Expected(values=[float(v) for v in np.asarray(values).ravel()])


def _quiet(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():  # fitted on frames, asked on arrays (or back)
        warnings.simplefilter("ignore")
        return call()


def sklearn_classifier(model: Any, data: Data) -> tuple[list[dict[str, Any]], Expected]:
    """The rows to send to a fitted scikit-learn-API classifier, and its answers."""
    fitted = _quiet(lambda: model.fit(data.frame, data.target))
    index = boundary_rows(_quiet(lambda: fitted.predict_proba(data.frame)))
    picked = data.frame.iloc[index]
    classes = _text(fitted.classes_)
    proba = _quiet(lambda: fitted.predict_proba(picked))
    return _records(data.frame, index), _classified(fitted.predict(picked), classes, proba)


def sklearn_regressor(model: Any, data: Data) -> tuple[list[dict[str, Any]], Expected]:
    fitted = _quiet(lambda: model.fit(data.frame, data.target))
    index = value_rows(len(data.frame))
    return _records(data.frame, index), _values(fitted.predict(data.frame.iloc[index]))


class Corpus:
    """Builds the models under ``root``; :attr:`entries` lists what was built."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: list[Entry] = []

    def folder(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir(parents=True)
        return folder

    def add(
        self,
        name: str,
        fmt: str,
        path: Path,
        rows: list[dict[str, Any]],
        expected: Expected,
        converts: bool = True,
    ) -> None:
        self.entries.append(Entry(name, fmt, path, rows, expected, converts))

    def build(self) -> list[Entry]:
        """Every model; the libraries' own warnings while they train and save (MLflow's on
        type hints and pickles, scikit-learn's on feature names) are not under test."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.scikit_learn()
            self.xgboost_files()
            self.lightgbm_files()
            self.onnx_files()
            self.mlflow_folders()
        return self.entries

    # scikit-learn pickles (joblib, pickle, cloudpickle) ---------------------------------

    def scikit_learn(self) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import (
            GradientBoostingClassifier,
            GradientBoostingRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )
        from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        forest = RandomForestClassifier(n_estimators=20, random_state=SEED)
        self._pickled("sk_forest_iris", "model.joblib", forest, iris(), joblib.dump)
        boosting = GradientBoostingClassifier(n_estimators=20, random_state=SEED)
        self._pickled("sk_boosting_cancer", "model.pkl", boosting, cancer(), _pickle_dump)
        logistic = Pipeline(
            [("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]
        )
        self._pickled("sk_logistic_cancer", "model.joblib", logistic, cancer(), joblib.dump)
        text = Pipeline(
            [
                (
                    "columns",
                    ColumnTransformer(
                        [
                            ("numbers", StandardScaler(), list(iris().frame.columns)),
                            ("text", OneHotEncoder(handle_unknown="ignore"), ["color"]),
                        ]
                    ),
                ),
                ("clf", LogisticRegression(max_iter=1000)),
            ]
        )
        self._pickled("sk_text_pipeline", "model.joblib", text, colored_iris(), joblib.dump)
        self._pickled(
            "sk_linear_diabetes", "model.cloudpickle", LinearRegression(), diabetes(), _cloud_dump
        )
        self._pickled("sk_ridge_synthetic", "model.joblib", Ridge(alpha=0.5), synthetic())
        forest_r = RandomForestRegressor(n_estimators=15, random_state=SEED)
        self._pickled("sk_forest_diabetes", "model.sav", forest_r, diabetes(), joblib.dump)
        boosting_r = GradientBoostingRegressor(n_estimators=20, random_state=SEED)
        self._pickled("sk_boosting_synthetic", "model.joblib", boosting_r, synthetic())

    def _pickled(
        self,
        name: str,
        filename: str,
        model: Any,
        data: Data,
        dump: Callable[[Any, Path], Any] = joblib.dump,
        fmt: str = "sklearn",
        converts: bool = True,
    ) -> None:
        if hasattr(model, "predict_proba") or hasattr(model, "classes_"):
            rows, expected = sklearn_classifier(model, data)
        else:
            rows, expected = sklearn_regressor(model, data)
        path = self.folder(name) / filename
        dump(model, path)
        self.add(name, fmt, path, rows, expected, converts)

    # XGBoost: native Booster files and its scikit-learn API ------------------------------

    def xgboost_files(self) -> None:
        import xgboost as xgb

        params = {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": SEED}
        data = iris()
        multi = xgb.train(
            {**params, "objective": "multi:softprob", "num_class": 3},
            xgb.DMatrix(data.frame, label=data.target),
            num_boost_round=10,
        )
        self._booster("xgb_booster_multi", "model.json", multi, data, xgb_proba(multi))
        data = cancer()
        binary = xgb.train(
            {**params, "objective": "binary:logistic"},
            xgb.DMatrix(data.frame, label=data.target),
            num_boost_round=10,
        )
        self._booster("xgb_booster_binary", "model.ubj", binary, data, xgb_proba(binary))
        data = diabetes()
        regression = xgb.train(
            {**params, "objective": "reg:squarederror"},
            xgb.DMatrix(data.frame, label=data.target),
            num_boost_round=10,
        )
        self._booster_regressor(
            "xgb_booster_regression", "model.json", regression, data, xgb_values(regression)
        )

        settings = {"n_estimators": 10, "max_depth": 3, "n_jobs": 1, "random_state": SEED}
        self._pickled("xgb_sklearn_joblib", "model.joblib", xgb.XGBClassifier(**settings), iris())
        self._saved("xgb_sklearn_json", "model.json", xgb.XGBClassifier(**settings), cancer())
        self._saved("xgb_sklearn_regressor", "model.ubj", xgb.XGBRegressor(**settings), synthetic())

    def _saved(self, name: str, filename: str, model: Any, data: Data) -> None:
        """The scikit-learn API's own ``save_model``: the file holds a Booster."""
        if hasattr(model, "predict_proba"):
            rows, expected = sklearn_classifier(model, data)
        else:
            rows, expected = sklearn_regressor(model, data)
        path = self.folder(name) / filename
        model.save_model(path)
        self.add(name, "xgboost", path, rows, expected)

    def _booster(
        self,
        name: str,
        filename: str,
        booster: Any,
        data: Data,
        proba_of: Callable[[pd.DataFrame], np.ndarray],
    ) -> None:
        """A native classifier: classes are 0..k-1, the likeliest one predicted."""
        index = boundary_rows(proba_of(data.frame))
        picked = data.frame.iloc[index]
        proba = proba_of(picked)
        classes = [str(i) for i in range(proba.shape[1])]
        expected = _classified(np.argmax(proba, axis=1), classes, proba)
        path = self.folder(name) / filename
        booster.save_model(str(path))
        self.add(name, _format_of(booster), path, _records(data.frame, index), expected)

    def _booster_regressor(
        self,
        name: str,
        filename: str,
        booster: Any,
        data: Data,
        values_of: Callable[[pd.DataFrame], np.ndarray],
    ) -> None:
        index = value_rows(len(data.frame))
        expected = _values(values_of(data.frame.iloc[index]))
        path = self.folder(name) / filename
        booster.save_model(str(path))
        self.add(name, _format_of(booster), path, _records(data.frame, index), expected)

    # LightGBM: native text files and its scikit-learn API --------------------------------

    def lightgbm_files(self) -> None:
        import lightgbm as lgb

        params = {
            "num_leaves": 7,
            "verbose": -1,
            "num_threads": 1,
            "seed": SEED,
            "deterministic": True,
        }
        data = iris()
        multi = lgb.train(
            {**params, "objective": "multiclass", "num_class": 3},
            lgb.Dataset(data.frame, label=data.target),
            num_boost_round=10,
        )
        self._booster("lgb_booster_multi", "model.txt", multi, data, lgb_proba(multi))
        # Trained on an array: the file has no feature names, the inputs are f0..f7.
        data = cancer()
        unnamed = Data(data.frame.set_axis([f"f{i}" for i in range(8)], axis=1), data.target)
        binary = lgb.train(
            {**params, "objective": "binary"},
            lgb.Dataset(unnamed.frame.to_numpy(), label=unnamed.target),
            num_boost_round=10,
        )
        self._booster("lgb_booster_unnamed", "model.txt", binary, unnamed, lgb_proba(binary))
        data = synthetic()
        regression = lgb.train(
            {**params, "objective": "regression"},
            lgb.Dataset(data.frame, label=data.target),
            num_boost_round=10,
        )
        self._booster_regressor(
            "lgb_booster_regression", "model.txt", regression, data, lgb_values(regression)
        )
        settings = {
            "n_estimators": 10,
            "num_leaves": 7,
            "n_jobs": 1,
            "random_state": SEED,
            "verbose": -1,
        }
        self._pickled(
            "lgb_sklearn_joblib", "model.joblib", lgb.LGBMClassifier(**settings), cancer()
        )

    # ONNX files written by skl2onnx --------------------------------------------------------

    def onnx_files(self) -> None:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LinearRegression, LogisticRegression

        data = iris()
        forest = RandomForestClassifier(n_estimators=10, random_state=SEED)
        forest.fit(data.frame.to_numpy(np.float32), data.target)
        self._onnx("onnx_forest_zipmap", forest, data, {"zipmap": True})
        data = cancer()
        logistic = LogisticRegression(max_iter=5000).fit(
            data.frame.to_numpy(np.float32), data.target
        )
        self._onnx("onnx_logistic_tensor", logistic, data, {"zipmap": False})
        data = synthetic()
        linear = LinearRegression().fit(data.frame.to_numpy(np.float32), data.target)
        self._onnx("onnx_linear", linear, data, None)

    def _onnx(self, name: str, model: Any, data: Data, options: dict[str, Any] | None) -> None:
        """A graph with one float32 input ``input`` of the table's width."""
        path = self.folder(name) / "model.onnx"
        path.write_bytes(onnx_bytes(model, data.frame.shape[1], options))
        session = onnx_session(path)
        self.add(name, "onnx", path, *onnx_answers(session, data, options is not None))

    # MLflow folders written by mlflow --------------------------------------------------------

    def mlflow_folders(self) -> None:
        import lightgbm as lgb
        import mlflow.lightgbm
        import mlflow.onnx
        import mlflow.pyfunc
        import mlflow.sklearn
        import mlflow.xgboost
        import xgboost as xgb
        from mlflow.models import infer_signature
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import Ridge

        data = iris()
        forest = RandomForestClassifier(n_estimators=10, random_state=SEED)
        rows, expected = sklearn_classifier(forest, data)
        path = self.root / "mlflow_sklearn_skops"
        mlflow.sklearn.save_model(
            forest,
            path,
            pip_requirements=PIP_REQUIREMENTS["scikit-learn"],
            signature=infer_signature(data.frame, forest.predict(data.frame)),
            input_example=data.frame.head(3),
            skops_trusted_types=skops_types(forest),
        )
        self.add("mlflow_sklearn_skops", "mlflow", path, rows, expected)

        data = diabetes()
        ridge = Ridge(alpha=0.1)
        rows, expected = sklearn_regressor(ridge, data)
        path = self.root / "mlflow_sklearn_cloudpickle"
        mlflow.sklearn.save_model(
            ridge,
            path,
            pip_requirements=PIP_REQUIREMENTS["scikit-learn"],
            serialization_format="cloudpickle",
            signature=infer_signature(data.frame, ridge.predict(data.frame)),
            input_example=data.frame.head(2),
        )
        self.add("mlflow_sklearn_cloudpickle", "mlflow", path, rows, expected)

        data = cancer()
        booster = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1, random_state=SEED)
        rows, expected = sklearn_classifier(booster, data)
        path = self.root / "mlflow_xgboost"
        mlflow.xgboost.save_model(
            booster,
            path,
            pip_requirements=PIP_REQUIREMENTS["xgboost"],
            signature=infer_signature(data.frame, booster.predict(data.frame)),
            input_example=data.frame.head(2),
        )
        self.add("mlflow_xgboost", "mlflow", path, rows, expected)

        data = iris()
        lgbm = lgb.LGBMClassifier(
            n_estimators=10, num_leaves=7, n_jobs=1, random_state=SEED, verbose=-1
        )
        rows, expected = sklearn_classifier(lgbm, data)
        path = self.root / "mlflow_lightgbm"
        mlflow.lightgbm.save_model(
            lgbm,
            path,
            pip_requirements=PIP_REQUIREMENTS["lightgbm"],
            signature=infer_signature(data.frame, lgbm.predict(data.frame)),
            input_example=data.frame.head(2),
        )
        self.add("mlflow_lightgbm", "mlflow", path, rows, expected)

        import onnx

        data = iris()
        from sklearn.linear_model import LogisticRegression

        logistic = LogisticRegression(max_iter=1000).fit(
            data.frame.to_numpy(np.float32), data.target
        )
        proto = onnx.load_from_string(onnx_bytes(logistic, 4, {"zipmap": False}))
        path = self.root / "mlflow_onnx"
        mlflow.onnx.save_model(proto, path, pip_requirements=PIP_REQUIREMENTS["onnx"])
        session = onnx_session(path / "model.onnx")
        self.add("mlflow_onnx", "mlflow", path, *onnx_answers(session, data, True))

        data = synthetic()
        path = self.root / "mlflow_pyfunc"
        mlflow.pyfunc.save_model(
            path,
            pip_requirements=PIP_REQUIREMENTS["pyfunc"],
            python_model=weighted_model(),
            signature=infer_signature(data.frame, weighted_score(data.frame)),
            input_example=data.frame.head(2),
        )
        index = value_rows(len(data.frame))
        expected = _values(weighted_score(data.frame.iloc[index]))
        self.add("mlflow_pyfunc", "mlflow", path, _records(data.frame, index), expected, False)


def weighted_score(frame: pd.DataFrame) -> np.ndarray:
    """The custom pyfunc's answer: a fixed weighting of the inputs."""
    return np.asarray(frame.to_numpy(np.float64) @ np.array(WEIGHTS) + 3.0)


def weighted_model() -> Any:
    """A custom ``mlflow.pyfunc.PythonModel``; defined in here so cloudpickle saves the
    class itself, not a reference to this test module the server could not import."""
    import mlflow.pyfunc

    class Weighted(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return model_input.to_numpy(dtype="float64") @ WEIGHTS + 3.0

    return Weighted()


def _format_of(booster: Any) -> str:
    return "xgboost" if type(booster).__module__.startswith("xgboost") else "lightgbm"


def _pickle_dump(model: Any, path: Path) -> None:
    path.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def _cloud_dump(model: Any, path: Path) -> None:
    path.write_bytes(cloudpickle.dumps(model))


def xgb_proba(booster: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    import xgboost as xgb

    def proba(frame: pd.DataFrame) -> np.ndarray:
        answer = np.asarray(booster.predict(xgb.DMatrix(frame)))
        return answer if answer.ndim == 2 else np.column_stack([1 - answer, answer])

    return proba


def xgb_values(booster: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    import xgboost as xgb

    return lambda frame: np.asarray(booster.predict(xgb.DMatrix(frame)))


def lgb_proba(booster: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    def proba(frame: pd.DataFrame) -> np.ndarray:
        answer = np.asarray(booster.predict(frame.to_numpy()))
        return answer if answer.ndim == 2 else np.column_stack([1 - answer, answer])

    return proba


def lgb_values(booster: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda frame: np.asarray(booster.predict(frame.to_numpy()))


def onnx_bytes(model: Any, width: int, options: dict[str, Any] | None) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    proto = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, width]))],
        options={id(model): options} if options else None,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return bytes(proto.SerializeToString())


def onnx_session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_answers(
    session: Any, data: Data, classifier: bool
) -> tuple[list[dict[str, Any]], Expected]:
    """ONNX Runtime's own answers for an ONNX file (the original library of an ONNX file).

    The file's input is one tensor, so its fields are named as nervosum names unnamed
    inputs: the graph's input name, per column."""
    arrays = data.frame.to_numpy(np.float32)
    outputs = session.run(None, {"input": arrays})
    if classifier:
        proba = _proba_tensor(outputs[1])
        index = boundary_rows(proba)
    else:
        index = value_rows(len(arrays))
    labels, *rest = session.run(None, {"input": arrays[index]})
    names = [f"f{i}" for i in range(arrays.shape[1])]
    rows = [dict(zip(names, map(float, arrays[i]), strict=True)) for i in index]
    if not classifier:
        return rows, _values(labels)
    proba = _proba_tensor(rest[0])
    return rows, _classified(labels, [str(i) for i in range(proba.shape[1])], proba)


def _proba_tensor(output: Any) -> np.ndarray:
    """Probabilities as a (rows, classes) array, from a tensor or a ZipMap's dicts."""
    if isinstance(output, list):
        return np.array([[row[key] for key in sorted(row)] for row in output])
    return np.asarray(output)


def skops_types(model: Any) -> list[str]:
    """The types skops must be told to trust to read ``model`` back."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
