"""nervosum's own TreeSHAP kernel for scikit-learn trees (explain/path_shap.py): the
same attributions as the shap library, to 1e-9, on the trees that stress it: fully
grown (features tested many times on one path), extra trees, one tree, gradient
boosting, missing values, more rows than one block, a tree of one leaf."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from nervosum.explain import explainer_for, sklearn_trees
from nervosum.explain.path_shap import BLOCK, PathKernel
from nervosum.explain.tree_paths import path_length, sklearn_paths

FEATURES = [f"f{i}" for i in range(8)]
TOLERANCE = 1e-9


def _shap(model: object, rows: np.ndarray) -> np.ndarray:
    found = shap.TreeExplainer(model).shap_values(rows, check_additivity=False)
    return np.asarray(found).reshape(len(rows), rows.shape[1], -1)


def _explain(model: object, rows: np.ndarray, classes: list[str] | None) -> np.ndarray:
    found = explainer_for(model, features=FEATURES, classes=classes, threads=2).explain(rows)
    assert found.method == "treeshap:nervosum"
    expected = model.predict_proba(rows) if classes else model.predict(rows)  # type: ignore[attr-defined]
    total = found.base + found.values.sum(axis=1)
    np.testing.assert_allclose(total, np.reshape(expected, total.shape), atol=TOLERANCE)
    return found.values


@pytest.fixture(scope="module")
def classified() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=600, n_features=8, n_informative=5, n_classes=3, random_state=1
    )
    return x, y


def test_fully_grown_forest_equals_shap(classified: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = classified
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(x, y)
    paths = sklearn_paths(model.estimators_, probabilities=True)
    tested = np.diff(paths.starts)
    assert tested.max() > 5  # deep paths: most features are tested, several of them twice
    assert paths.reused.sum() > 0  # neighbouring leaves share their first slots
    assert paths.paired.sum() > 0  # sibling leaves go through the kernel as pairs
    found = _explain(model, x[:40], ["a", "b", "c"])
    np.testing.assert_allclose(found, _shap(model, x[:40]), atol=TOLERANCE)


def test_more_rows_than_a_block_run_in_parallel_blocks(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = classified
    model = RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0).fit(x, y)
    rows = np.vstack([x, x])[: BLOCK * 2 + 37]
    found = _explain(model, rows, ["a", "b", "c"])
    one_at_a_time = np.concatenate(
        [_explain(model, rows[i : i + 1], ["a", "b", "c"]) for i in (0, 300, 548)]
    )
    np.testing.assert_allclose(found[[0, 300, 548]], one_at_a_time, atol=1e-12)
    np.testing.assert_allclose(found[:50], _shap(model, rows[:50]), atol=TOLERANCE)


def test_threads_share_the_rows_and_answer_the_same(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = classified
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    paths = sklearn_paths(model.estimators_, probabilities=True)
    one = PathKernel(paths, 8, threads=1)(x)
    np.testing.assert_array_equal(PathKernel(paths, 8, threads=3)(x), one)
    assert PathKernel(paths, 8, threads=2)(x[:0]).shape == (0, 8, 3)


def test_a_forest_past_the_path_budget_goes_to_shap(
    classified: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = classified
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    edges = path_length(model.estimators_)
    assert edges >= len(sklearn_paths(model.estimators_, probabilities=True).feature)
    monkeypatch.setattr(sklearn_trees, "MOST_PATH_EDGES", edges - 1)
    found = explainer_for(model, features=FEATURES, classes=["a", "b", "c"]).explain(x[:5])
    assert found.method == "treeshap:shap"
    np.testing.assert_allclose(found.values, _shap(model, x[:5]), atol=TOLERANCE)


def test_regressors_and_single_trees_equal_shap() -> None:
    x, y = make_regression(n_samples=400, n_features=8, noise=5.0, random_state=2)
    for model in (
        ExtraTreesRegressor(n_estimators=20, random_state=0).fit(x, y),
        RandomForestRegressor(n_estimators=20, min_samples_leaf=3, random_state=0).fit(x, y),
        DecisionTreeRegressor(random_state=0).fit(x, y),
    ):
        found = _explain(model, x[:30], None)
        scale = np.abs(y).max()
        np.testing.assert_allclose(found, _shap(model, x[:30]), atol=TOLERANCE * scale)


def test_gradient_boosting_equals_shap_in_its_margin(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = classified
    binary = GradientBoostingClassifier(n_estimators=40, max_depth=4, random_state=0)
    binary.fit(x, y == 1)
    found = explainer_for(binary, features=FEATURES, classes=["no", "yes"]).explain(x[:30])
    assert (found.method, found.output) == ("treeshap:nervosum", "log_odds")
    np.testing.assert_allclose(found.values, _shap(binary, x[:30]), atol=TOLERANCE)
    total = found.base + found.values.sum(axis=1)
    np.testing.assert_allclose(total[:, 0], binary.decision_function(x[:30]), atol=TOLERANCE)
    target = x[:, 0] * 3 + np.sin(x[:, 1])
    for loss in ("squared_error", "huber"):
        model = GradientBoostingRegressor(loss=loss, n_estimators=30, random_state=0)
        model.fit(x, target)
        found = explainer_for(model, features=FEATURES, classes=None).explain(x[:30])
        assert found.method == "treeshap:nervosum"
        np.testing.assert_allclose(found.values, _shap(model, x[:30]), atol=TOLERANCE)
        total = found.base + found.values.sum(axis=1)
        np.testing.assert_allclose(total[:, 0], model.predict(x[:30]), atol=TOLERANCE)


def test_multiclass_gradient_boosting_is_exact_per_class(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    """shap cannot read it; each class's margin is its trees' sum, so its attributions
    are the trees' own (shap on each tree), times the learning rate."""
    x, y = classified
    model = GradientBoostingClassifier(n_estimators=6, learning_rate=0.3, random_state=0)
    model.fit(x, y)
    found = explainer_for(model, features=FEATURES, classes=["a", "b", "c"]).explain(x[:20])
    assert (found.method, found.output, found.outputs) == (
        "treeshap:nervosum",
        "raw",
        ("a", "b", "c"),
    )
    total = found.base + found.values.sum(axis=1)
    np.testing.assert_allclose(total, model.decision_function(x[:20]), atol=TOLERANCE)
    for column in range(3):
        per_tree = sum(_shap(tree, x[:20])[:, :, 0] for tree in model.estimators_[:, column])
        expected = model.learning_rate * per_tree
        np.testing.assert_allclose(found.values[:, :, column], expected, atol=TOLERANCE)


def test_boosting_fitted_on_named_columns_is_read_without_warnings(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = classified
    frame = pd.DataFrame(x, columns=FEATURES)
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(frame, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = explainer_for(model, features=FEATURES, classes=None).explain(x[:5])
    total = found.base + found.values.sum(axis=1)
    np.testing.assert_allclose(total, model.decision_function(frame[:5]), atol=TOLERANCE)


def test_the_exponential_loss_is_explained_in_log_odds(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    """Its margin is half the log-odds: the kernel doubles it, so the output is what it
    says."""
    x, y = classified
    model = GradientBoostingClassifier(loss="exponential", n_estimators=20, random_state=0)
    model.fit(x, y == 1)
    found = explainer_for(model, features=FEATURES, classes=["no", "yes"]).explain(x[:20])
    assert (found.method, found.output) == ("treeshap:nervosum", "log_odds")
    total = (found.base + found.values.sum(axis=1))[:, 0]
    probability = model.predict_proba(x[:20])[:, 1]
    np.testing.assert_allclose(total, np.log(probability / (1 - probability)), atol=1e-9)


def test_boosting_the_kernel_cannot_read_is_sampled(
    classified: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the bound, or drawn from a random start: shap misreads or refuses such
    boosting, so it gets the estimate."""
    x, y = classified
    for model in (
        GradientBoostingClassifier(n_estimators=5, init="zero", random_state=0),
        GradientBoostingClassifier(
            n_estimators=5, init=DummyClassifier(strategy="stratified"), random_state=0
        ),
    ):
        model.fit(x, y == 1)
        edges = path_length(list(model.estimators_.flat))
        if model.init == "zero":
            monkeypatch.setattr(sklearn_trees, "MOST_PATH_EDGES", edges - 1)
        sampled = explainer_for(model, features=FEATURES, classes=None, background=x[:20])
        assert sampled.method == "sampled:permutation"
        monkeypatch.undo()


def test_boosting_from_a_model_of_its_own_is_sampled(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = classified
    start = LogisticRegression(max_iter=500)
    model = GradientBoostingClassifier(n_estimators=5, init=start, random_state=0)
    for labels in (y == 1, y):  # shap cannot read it either: it is sampled
        model.fit(x, labels)
        sampled = explainer_for(model, features=FEATURES, classes=None, background=x[:20])
        assert sampled.method == "sampled:permutation"


def test_missing_values_follow_the_trees_routing(
    classified: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = classified
    holes = x.copy()
    holes[np.random.default_rng(0).random(holes.shape) < 0.15] = np.nan
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(holes, y)
    found = _explain(model, holes[:60], ["a", "b", "c"])  # sums to predict_proba, NaN or not
    assert np.isnan(holes[:60]).any()
    assert np.abs(found).sum() > 0


def test_a_tree_of_one_leaf_attributes_nothing() -> None:
    x = np.random.default_rng(0).normal(size=(50, 8))
    model = DecisionTreeClassifier().fit(x, np.zeros(50, dtype=int))
    found = explainer_for(model, features=FEATURES, classes=["only"]).explain(x[:5])
    assert np.all(found.values == 0)
    np.testing.assert_allclose(found.base, [1.0])
