"""Compiled inference: each supported family converts and answers like the original;
a disagreement, an unsupported estimator and mode onnx are handled as documented; the
conversion is cached by the model file's hash.

The models are tiny and built here. Their runner is the original library's call as the
model-file readers make it: ``predict`` (and ``predict_proba``) on one float64 array in
schema order, or on the typed frame when the model picks columns by name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from nervosum.config.spec import CompileSpec, SchemaField, ToleranceSpec
from nervosum.errors import ConfigError, ModelDefinitionError
from nervosum.model.compile import Compiled, OnnxRunner, compile_model, read_onnx_file
from nervosum.model.compile.check import runner_inputs
from nervosum.model.compile.reference import DRAWN_ROWS, reference_rows
from nervosum.model.files import Feature, ModelFile
from nervosum.model.runner import Takes

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class EstimatorCall:
    """predict / predict_proba on one batch: the original library's answer."""

    def __init__(self, model: Any, takes: Takes, classes: tuple[str, ...] | None) -> None:
        self.model = model
        self.takes: Takes = takes
        self.dtype: np.dtype[Any] = np.dtype(np.float64)
        self.classes = classes
        self.runtime = type(model).__module__.split(".")[0]

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        with warnings.catch_warnings():  # fitted on a frame, called with its array
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            predictions = self.model.predict(inputs)
            if not proba or self.classes is None:
                return predictions, None
            return predictions, np.asarray(self.model.predict_proba(inputs))


def iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return pd.DataFrame(data.data, columns=list(IRIS)), np.asarray(data.target)


def fields_of(frame: pd.DataFrame) -> list[SchemaField]:
    """Numbers within the training data's range, as a schema written for it would say."""
    return [
        SchemaField(name=str(name), type="float", min=frame[name].min(), max=frame[name].max())
        for name in frame.columns
    ]


def model_file(
    model: Any,
    path: Path,
    fields: list[SchemaField],
    *,
    takes: Takes = "array",
    classes: tuple[str, ...] | None = None,
    save: bool = True,
) -> ModelFile:
    """A ModelFile for ``model``, saved at ``path`` (the cache hashes the file)."""
    if save:
        joblib.dump(model, path)
    return ModelFile(
        path=path,
        format="sklearn",
        flavor="sklearn",
        model=model,
        runner=EstimatorCall(model, takes, classes),
        features=tuple(Feature(f.name, f.type) for f in fields),
        named=True,
        classes=classes,
    )


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of the test's own, so the ONNX cache starts empty."""
    monkeypatch.setenv("NERVOSUM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NERVOSUM_CACHE", raising=False)
    return tmp_path / "home"


def compiled(
    model_file: ModelFile,
    fields: list[SchemaField],
    project_dir: Path,
    spec: CompileSpec | None = None,
    rows: tuple[dict[str, Any], ...] = (),
) -> Compiled:
    return compile_model(
        model_file,
        fields,
        spec or CompileSpec(),
        project_dir=project_dir,
        threads=1,
        example_rows=rows,
    )


def assert_answers_like_the_original(
    result: Compiled, original: ModelFile, frame: Any, fields: list[SchemaField] | None = None
) -> None:
    """The served runner on the training rows against the original's offline answers."""
    fields = fields or fields_of(frame)
    records = frame.to_dict(orient="records")
    proba = original.runner.classes is not None
    expected, expected_p = original.runner.run(
        runner_inputs(original.runner, records, fields), proba
    )
    answered, answered_p = result.runner.run(runner_inputs(result.runner, records, fields), proba)
    if proba:
        assert [str(v) for v in answered] == [str(v) for v in expected]
        assert answered_p is not None and expected_p is not None
        assert np.abs(answered_p - expected_p).max() <= 1e-5
    else:
        np.testing.assert_allclose(answered, expected, rtol=1e-6, atol=1e-9)


def sklearn_models() -> list[tuple[str, Any, bool]]:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return [
        ("forest", RandomForestClassifier(n_estimators=10, random_state=0), True),
        ("extra trees", ExtraTreesClassifier(n_estimators=10, random_state=0), True),
        ("gradient boosting", GradientBoostingClassifier(n_estimators=10, random_state=0), True),
        ("decision tree", DecisionTreeClassifier(random_state=0), True),
        ("logistic", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), True),
        ("forest regressor", RandomForestRegressor(n_estimators=10, random_state=0), False),
        ("gb regressor", GradientBoostingRegressor(n_estimators=10, random_state=0), False),
        ("linear", LinearRegression(), False),
        ("ridge", make_pipeline(MinMaxScaler(), Ridge()), False),
    ]


@pytest.mark.parametrize(("name", "estimator", "classifier"), sklearn_models())
def test_sklearn_converts_and_answers_like_the_original(
    name: str, estimator: Any, classifier: bool, tmp_path: Path
) -> None:
    frame, target = iris()
    if classifier:
        labels = target if name != "logistic" else (target == 2).astype(int)  # binary too
        estimator.fit(frame, labels)
        classes = tuple(str(c) for c in estimator.classes_)
    else:  # petal width from the other three
        frame, target = frame[list(IRIS[:3])], frame["petal_width"].to_numpy()
        estimator.fit(frame, target)
        classes = None
    fields = fields_of(frame)
    original = model_file(estimator, tmp_path / "model.joblib", fields, classes=classes)
    result = compiled(original, fields, tmp_path)
    assert result.compiled, result.info["reason"]
    assert isinstance(result.runner, OnnxRunner)
    assert result.runner.takes == "array"
    linear = name in ("logistic", "linear", "ridge")  # float64 keeps their precision
    assert result.runner.dtype == (np.float64 if linear else np.float32)
    assert result.info["converter"].startswith("skl2onnx ")
    assert result.info["runtime"].startswith("onnxruntime ")
    assert result.info["check"]["rows"] >= 256
    assert result.info["reason"] is None
    assert_answers_like_the_original(result, original, frame)


def test_a_pipeline_with_a_text_column_gets_one_input_per_column(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=120),
            "n": rng.integers(0, 5, 120),
            "colour": rng.choice(["red", "green", "blue"], 120).astype(object),
        }
    )
    target = np.where(frame.x + (frame.colour == "red") > 0.5, "yes", "no")
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["x", "n"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    pipeline = Pipeline([("columns", columns), ("clf", LogisticRegression())]).fit(frame, target)
    fields = [
        SchemaField(name="x", type="float"),
        SchemaField(name="n", type="int", min=0, max=4),
        SchemaField(name="colour", type="str", choices=("red", "green", "blue")),
    ]
    original = model_file(
        pipeline, tmp_path / "m.joblib", fields, takes="frame", classes=("no", "yes")
    )
    result = compiled(original, fields, tmp_path)
    assert result.compiled, result.info["reason"]
    assert result.runner.takes == "frame"
    labels, _ = result.runner.run(
        runner_inputs(result.runner, frame.to_dict("records"), fields), False
    )
    assert set(labels.tolist()) == {"no", "yes"}  # the original's labels, as text
    assert_answers_like_the_original(result, original, frame, fields)


def boosters() -> list[tuple[str, Any]]:
    import lightgbm
    import xgboost

    frame, target = iris()
    return [
        ("XGBClassifier", xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(frame, target)),
        (
            "xgboost Booster",
            xgboost.train(
                {"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                xgboost.DMatrix(frame, label=target),
                10,
            ),
        ),
        ("LGBMClassifier", lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(frame, target)),
        (
            "lightgbm Booster",
            lightgbm.train(
                {"objective": "multiclass", "num_class": 3, "verbose": -1},
                lightgbm.Dataset(frame, target),
                10,
            ),
        ),
    ]


class BoosterCall(EstimatorCall):
    """A native booster's own call: probabilities from ``predict``, the class their argmax."""

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        import xgboost

        if isinstance(self.model, xgboost.Booster):
            probabilities = self.model.inplace_predict(inputs)
        else:
            probabilities = self.model.predict(inputs)
        return probabilities.argmax(axis=1), probabilities if proba else None


@pytest.mark.parametrize(("name", "model"), boosters())
def test_boosters_convert_with_onnxmltools(name: str, model: Any, tmp_path: Path) -> None:
    frame, _ = iris()
    fields = fields_of(frame)
    original = model_file(model, tmp_path / "model.bin", fields, classes=("0", "1", "2"))
    if "Booster" in name:
        original = replace(original, runner=BoosterCall(model, "array", ("0", "1", "2")))
    result = compiled(original, fields, tmp_path)
    assert result.info["converter"].startswith("onnxmltools ")
    if "lightgbm" in type(model).__module__:
        # LightGBM compares float64 inputs with float64 thresholds; the graph compares
        # float32 ones. Probing the splits finds a row between the two (petal_length
        # 3.1500000953674316 against a split at 3.1500000000000004): the original serves.
        assert not result.compiled
        assert result.info["reason"].startswith("class differs on reference row")
        assert result.info["check"]["worst_row"] >= DRAWN_ROWS
        return
    assert result.compiled, result.info["reason"]
    assert_answers_like_the_original(result, original, frame)


def threshold_booster(
    tmp_path: Path, rows: tuple[float, float] = (0.1, 0.1000000001)
) -> tuple[ModelFile, list[SchemaField], list[float]]:
    """A LightGBM split between ``rows`` (by default at 0.10000000005, float64): float32
    holds neither it nor the rows on either side of it, so ONNX sends both rows left
    where LightGBM sends one right."""
    import lightgbm

    params = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 1, "min_data_in_bin": 1}
    data = lightgbm.Dataset(np.array([[x] for x in rows for _ in range(20)]), [0] * 20 + [1] * 20)
    booster = lightgbm.train(params, data, 2)
    fields = [SchemaField(name="x", type="float", min=0, max=1)]
    original = model_file(booster, tmp_path / "model.txt", fields, classes=("0", "1"), save=False)
    booster.save_model(tmp_path / "model.txt")
    return (
        replace(original, runner=BinaryBoosterCall(booster, "array", ("0", "1"))),
        fields,
        list(rows),
    )


class BinaryBoosterCall(EstimatorCall):
    """LightGBM's binary booster: ``predict`` is the positive class's probability."""

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        positive = self.model.predict(inputs)
        probabilities = np.column_stack([1 - positive, positive])
        return (positive > 0.5).astype(int), probabilities if proba else None


def test_a_conversion_that_disagrees_falls_back_with_the_row(tmp_path: Path) -> None:
    original, fields, rows = threshold_booster(tmp_path)
    (tmp_path / "reference.csv").write_text(f"x\n{rows[0]!r}\n{rows[1]!r}\n")
    result = compiled(original, fields, tmp_path, CompileSpec(reference="reference.csv"))
    assert not result.compiled
    assert result.runner is original.runner
    assert result.info["reason"] == "class differs on reference row 1 ({'x': 0.1000000001}): 1 vs 0"
    assert result.info["check"]["classes_equal"] is False
    assert result.info["check"]["worst_row"] == 1
    assert result.info["converter"].startswith("onnxmltools ")


def test_mode_onnx_refuses_to_serve_the_original(tmp_path: Path) -> None:
    original, fields, rows = threshold_booster(tmp_path)
    with pytest.raises(ModelDefinitionError, match="class differs on reference row 0") as caught:
        compiled(original, fields, tmp_path, CompileSpec(mode="onnx"), ({"x": rows[1]},))
    assert caught.value.exit_code == 2


def test_a_split_float32_cannot_hold_is_found_without_help(tmp_path: Path) -> None:
    original, fields, _ = threshold_booster(tmp_path)
    result = compiled(original, fields, tmp_path)  # drawn rows miss it, probes do not
    assert not result.compiled
    assert result.info["check"]["worst_row"] >= DRAWN_ROWS
    assert "({'x': 0.1" in result.info["reason"]


def test_the_example_rows_are_checked_first(tmp_path: Path) -> None:
    original, fields, rows = threshold_booster(tmp_path)
    result = compiled(original, fields, tmp_path, rows=({"x": rows[1]},))
    assert not result.compiled
    assert "reference row 0" in result.info["reason"]


def small_tree(tmp_path: Path) -> tuple[ModelFile, list[SchemaField]]:
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    fields = [SchemaField(name="x", type="float", min=0, max=1)]
    return model_file(tree, tmp_path / "tree.joblib", fields, classes=("0", "1")), fields


def test_a_probability_beyond_the_tolerance_falls_back(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, target = iris()
    model = LogisticRegression(max_iter=500).fit(frame, target)
    fields = fields_of(frame)
    original = model_file(model, tmp_path / "m.joblib", fields, classes=("0", "1", "2"))
    spec = CompileSpec.model_validate({"tolerance": {"probabilities": 0.0}})
    result = compiled(original, fields, tmp_path, spec)
    assert not result.compiled
    assert re.match(
        r"probability of class \d differs by \S+ on reference row \d+ \(", result.info["reason"]
    )
    assert result.info["check"]["max_probability_diff"] > 0


class Handmade:
    """A user's own model class: no converter knows it."""

    classes_ = np.array([0, 1])

    def predict(self, frame: Any) -> Any:
        return np.zeros(len(frame), dtype=int)

    def predict_proba(self, frame: Any) -> Any:
        return np.tile([1.0, 0.0], (len(frame), 1))


def test_an_unsupported_estimator_serves_as_it_is_with_the_reason(tmp_path: Path) -> None:
    from sklearn.semi_supervised import LabelSpreading

    frame, target = iris()
    fields = fields_of(frame)
    model = LabelSpreading().fit(frame.to_numpy(), target)
    original = model_file(model, tmp_path / "m.joblib", fields, classes=("0", "1", "2"))
    result = compiled(original, fields, tmp_path)
    assert not result.compiled
    assert result.runner is original.runner
    assert result.info["reason"].startswith("unsupported: LabelSpreading (Unable to find a shape")
    user = model_file(Handmade(), tmp_path / "user.joblib", fields, save=False)
    reason = compiled(user, fields, tmp_path).info["reason"]
    assert reason == "unsupported: Handmade (no ONNX converter for tests.unit.test_compile models)"
    with pytest.raises(ModelDefinitionError, match="unsupported: Handmade"):
        compiled(user, fields, tmp_path, CompileSpec(mode="onnx"))


def test_hist_gradient_boosting_falls_back_while_skl2onnx_cannot_convert_it(
    tmp_path: Path,
) -> None:
    """skl2onnx 1.20 writes booleans into an int attribute for scikit-learn 1.9's
    HistGradientBoosting: the original serves and the reason says so."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame, target = iris()
    fields = fields_of(frame)
    model = HistGradientBoostingClassifier(max_iter=5).fit(frame, target)
    original = model_file(model, tmp_path / "m.joblib", fields, classes=("0", "1", "2"))
    reason = compiled(original, fields, tmp_path).info["reason"]
    assert reason.startswith("unsupported: HistGradientBoostingClassifier (Unable to create node")
    assert len(reason) < 220


def test_mode_off_serves_the_original(tmp_path: Path) -> None:
    original, fields = small_tree(tmp_path)
    result = compiled(original, fields, tmp_path, CompileSpec(mode="off"))
    assert (result.compiled, result.runner, result.info["mode"]) == (False, original.runner, "off")
    assert not (tmp_path / "home" / "cache" / "onnx").exists()


def test_the_conversion_is_cached_by_the_file_hash(tmp_path: Path, home: Path) -> None:
    original, fields = small_tree(tmp_path)
    first = compiled(original, fields, tmp_path)
    second = compiled(original, fields, tmp_path)
    assert (first.info["cache"], second.info["cache"]) == ("miss", "hit")
    assert second.info["convert_seconds"] == 0.0 and second.info["check"]["rows"] >= 256
    assert len(list((home / "cache" / "onnx").glob("*.onnx"))) == 1
    retrained = model_file(
        original.model.fit([[0.0], [2.0]], [0, 1]), original.path, fields, classes=("0", "1")
    )
    assert compiled(retrained, fields, tmp_path).info["cache"] == "miss"
    assert len(list((home / "cache" / "onnx").glob("*.onnx"))) == 2


def test_a_truncated_cache_entry_is_converted_again(tmp_path: Path, home: Path) -> None:
    original, fields = small_tree(tmp_path)
    compiled(original, fields, tmp_path)
    (entry,) = (home / "cache" / "onnx").glob("*.onnx")
    entry.write_bytes(entry.read_bytes()[:100])
    again = compiled(original, fields, tmp_path)
    assert again.compiled and again.info["cache"] == "miss"
    assert compiled(original, fields, tmp_path).info["cache"] == "hit"


def test_a_cache_that_cannot_be_written_costs_a_conversion_not_the_load(
    tmp_path: Path, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("a file where the home folder should be")
    original, fields = small_tree(tmp_path)
    for _ in range(2):
        result = compiled(original, fields, tmp_path)
        assert result.compiled and result.info["cache"] == "miss"
    assert "the ONNX cache cannot be written" in caplog.text


def test_a_reference_file_without_a_field_is_a_config_error(tmp_path: Path) -> None:
    original, fields = small_tree(tmp_path)
    (tmp_path / "reference.jsonl").write_text('{"y": 1}\n')
    with pytest.raises(
        ConfigError, match=r"model\.compile\.reference: reference\.jsonl has no column 'x'"
    ):
        compiled(original, fields, tmp_path, CompileSpec(reference="reference.jsonl"))


def test_an_onnx_file_is_served_by_onnx_runtime_unchecked(tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    original, fields = small_tree(tmp_path)
    path = tmp_path / "tree.onnx"
    sample = np.array([[0.0]], dtype=np.float32)
    options = {"zipmap": False}
    path.write_bytes(to_onnx(original.model, sample, options=options).SerializeToString())
    onnx_file = read_onnx_file(path, threads=1)
    result = compiled(onnx_file, fields, tmp_path)
    assert result.compiled and isinstance(result.runner, OnnxRunner)
    assert result.info["check"] is None and result.info["reason"] is None
    rows = np.array([[0.0], [1.0]], dtype=np.float32)
    assert result.runner.run(rows, False)[0].tolist() == [0, 1]


def test_drawn_rows_stay_within_the_schema_and_repeat(tmp_path: Path) -> None:
    fields = [
        SchemaField(name="a", type="float", min=2, max=3),
        SchemaField(name="b", type="int", min=-1, max=1),
        SchemaField(name="c", type="str", choices=("p", "q")),
        SchemaField(name="d", type="float"),
        SchemaField(name="e", type="str"),
    ]
    rows = reference_rows(fields, [{"a": 2.5, "b": 0, "c": "p", "d": 50.0, "e": "seen"}], None)
    assert rows == reference_rows(
        fields, [{"a": 2.5, "b": 0, "c": "p", "d": 50.0, "e": "seen"}], None
    )
    assert len(rows) == 257
    assert all(2 <= r["a"] <= 3 and r["b"] in (-1, 0, 1) and r["c"] in ("p", "q") for r in rows)
    assert {r["e"] for r in rows} == {"seen"}
    assert all(0 <= r["d"] <= 100 for r in rows)  # around the one example: 50 +- 50


class Fixed:
    """A runner that answers the same labels and probabilities whatever it is given."""

    takes: Takes = "frame"
    dtype = np.dtype(np.float64)
    runtime = "fixed"
    classes = ("0", "1", "2")

    def __init__(self, labels: list[int], probabilities: list[list[float]]) -> None:
        self.answer = np.array(labels), np.array(probabilities)

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        return self.answer


@pytest.mark.parametrize(
    ("converted", "agrees"),
    [
        ([[0.35, 0.3, 0.35]], True),  # a tie: either class is the model's answer
        ([[0.35, 0.3, 0.34]], False),  # the original's 2 is ahead by 0.01: a real difference
    ],
)
def test_a_class_may_differ_only_on_a_tie(converted: list[list[float]], agrees: bool) -> None:
    from nervosum.model.compile.check import compare

    original = Fixed([2], [[0.35, 0.3, 0.35] if agrees else [0.34, 0.3, 0.35]])
    fields = [SchemaField(name="x", type="float")]
    result = compare(original, Fixed([0], converted), [{"x": 1.0}], fields, ToleranceSpec())
    assert (result.reason is None) is agrees
    if not agrees:
        assert result.reason is not None and result.reason.startswith("class differs on")


def test_a_converted_classifier_gives_a_rounded_tie_to_the_first_class(tmp_path: Path) -> None:
    original, fields = small_tree(tmp_path)
    result = compiled(original, fields, tmp_path)
    assert isinstance(result.runner, OnnxRunner)

    class Noisy:  # what float32 sums of 20 trees may answer on a 10 / 10 vote
        def run(self, names: list[str], feed: dict[str, Any]) -> list[Any]:
            votes = np.array([[0.49999997, 0.50000006]], dtype=np.float32)
            return [np.array([1], dtype=np.int64), votes]

    result.runner._session = Noisy()  # the session's answer, made up
    labels, probabilities = result.runner.run(np.array([[0.5]], dtype=np.float32), True)
    assert labels.tolist() == [0]  # graph said 1; the first of the tied classes is 0
    assert probabilities is not None and probabilities.tolist() == [[0.5, 0.5]]


def test_a_clear_decision_near_one_half_is_kept(tmp_path: Path) -> None:
    original, fields = small_tree(tmp_path)
    result = compiled(original, fields, tmp_path)
    assert isinstance(result.runner, OnnxRunner)

    class Close:  # a gradient-boosted leaf: 0.499996 / 0.500004 is class 1, not a tie
        def run(self, names: list[str], feed: dict[str, Any]) -> list[Any]:
            return [np.array([1]), np.array([[0.499996, 0.500004]], dtype=np.float32)]

    result.runner._session = Close()  # the session's answer, made up
    labels, probabilities = result.runner.run(np.array([[0.5]], dtype=np.float32), True)
    assert labels.tolist() == [1]
    assert probabilities is not None and probabilities.tolist() == [[0.499996, 0.500004]]


def test_bool_classes_stay_bools(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, target = iris()
    model = LogisticRegression(max_iter=500).fit(frame, target == 0)
    fields = fields_of(frame)
    original = model_file(model, tmp_path / "b.joblib", fields, classes=("False", "True"))
    result = compiled(original, fields, tmp_path)
    assert result.compiled, result.info["reason"]
    labels, _ = result.runner.run(frame.to_numpy(np.float64)[:3], False)
    assert labels.tolist() == [True, True, True]
    assert all(type(label) is bool for label in labels.tolist())


def test_nan_on_one_side_is_a_disagreement() -> None:
    from nervosum.model.compile.check import compare

    class Values:
        takes: Takes = "frame"
        dtype = np.dtype(np.float64)
        runtime = "fixed"
        classes = None

        def __init__(self, value: float) -> None:
            self.value = value

        def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
            return np.array([1.0, self.value]), None

    fields = [SchemaField(name="x", type="float")]
    rows = [{"x": 1.0}, {"x": 2.0}]
    differs = compare(Values(2.0), Values(np.nan), rows, fields, ToleranceSpec())
    assert differs.reason is not None and differs.reason.startswith("value differs by inf")
    assert compare(Values(np.nan), Values(np.nan), rows, fields, ToleranceSpec()).reason is None


@pytest.mark.parametrize("step", [0, 1])  # the float32 value's last mantissa bit: even, odd
def test_a_split_inside_a_float32_step_is_found_on_either_side(tmp_path: Path, step: int) -> None:
    # LightGBM splits between a float32 value and a row a thousandth of a step above it:
    # float32 sends the rows just above the split left, LightGBM right. Midpoints round
    # to the even side, so an odd value is found only by probing just inside them.
    low = np.float32(0.3)
    for _ in range(step):
        low = np.nextafter(low, np.float32(1))
    width = float(np.nextafter(low, np.float32(1))) - float(low)
    original, fields, _ = threshold_booster(tmp_path, (float(low), float(low) + width * 1e-3))
    result = compiled(original, fields, tmp_path)
    assert not result.compiled
    assert result.info["reason"].startswith("class differs on reference row")


def test_an_unrounded_converted_classifier_answers_the_originals_classes() -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    frame, target = iris()
    model = LogisticRegression(max_iter=500).fit(frame, target == 0)
    graph = to_onnx(model, frame.to_numpy(np.float64)[:1], options={"zipmap": False})
    runner = OnnxRunner(
        graph.SerializeToString(),
        features=None,
        classes=("False", "True"),
        label_values=[False, True],
    )
    labels, _ = runner.run(frame.to_numpy(np.float64)[:2], False)
    assert labels.tolist() == [True, True]
