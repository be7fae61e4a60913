"""nervosum.explain against the real libraries: exact TreeSHAP equals the ``shap``
library's and adds up to the model's output; the sampled estimate adds up, keeps to its
time budget and says how many evaluations it made."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
import shap
import xgboost
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nervosum.errors import (
    ModelDefinitionError,
    ModelOutputError,
    NotExplainableError,
    RequestError,
)
from nervosum.explain import Attributions, explainer_for

FEATURES = [f"f{i}" for i in range(8)]
Data = tuple[np.ndarray, np.ndarray]
TOLERANCE = 1e-6
# XGBoost predicts and attributes in float32 (about 7 significant digits): for outputs
# of a few units 1e-6 absolute is below its resolution, so its figures are held to 1e-6
# relative to their size (with 1e-6 absolute near zero) instead.
FLOAT32 = {"rtol": 1e-6, "atol": TOLERANCE}


@pytest.fixture(scope="module")
def classified() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=400, n_features=8, n_informative=5, n_classes=3, random_state=0
    )


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=400, n_features=8, n_informative=5, random_state=1)


@pytest.fixture(scope="module")
def regressed() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(n_samples=400, n_features=8, noise=5.0, random_state=2)


def _shap_values(model: object, rows: np.ndarray) -> np.ndarray:
    """What the shap library answers, as (rows, features, outputs)."""
    found = np.asarray(shap.TreeExplainer(model).shap_values(rows, check_additivity=False))
    return found.reshape(len(rows), rows.shape[1], -1)


def _assert_adds_up(found: Attributions, expected: np.ndarray, rtol: float = 0.0) -> None:
    total = found.base + found.values.sum(axis=1)
    np.testing.assert_allclose(total, expected.reshape(total.shape), rtol=rtol, atol=TOLERANCE)


def _exact(model: object, rows: np.ndarray, classes: list[str] | None) -> Attributions:
    found = explainer_for(model, features=FEATURES, classes=classes).explain(rows)
    assert found.exact and found.samples is None
    assert found.values.shape == (len(rows), len(FEATURES), len(found.outputs))
    assert found.base.shape == (len(found.outputs),)
    return found


def test_forest_classifier_equals_shap_and_sums_to_probabilities(classified: Data) -> None:
    x, y = classified
    model = RandomForestClassifier(n_estimators=100, max_depth=6, random_state=0).fit(x, y)
    found = _exact(model, x[:50], ["a", "b", "c"])
    assert (found.method, found.output, found.outputs) == (
        "treeshap:nervosum",
        "probability",
        ("a", "b", "c"),
    )
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict_proba(x[:50]))


def test_forest_regressor_equals_shap_and_sums_to_the_value(regressed: Data) -> None:
    x, y = regressed
    model = RandomForestRegressor(n_estimators=100, max_depth=6, random_state=0).fit(x, y)
    found = _exact(model, x[:50], None)
    assert (found.output, found.outputs) == ("value", ("value",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50]))


def test_xgboost_binary_classifier_is_one_log_odds_column(binary: Data) -> None:
    x, y = binary
    model = xgboost.XGBClassifier(n_estimators=50, max_depth=4, random_state=0).fit(x, y)
    found = _exact(model, x[:50], ["no", "yes"])
    assert (found.method, found.output, found.outputs) == ("treeshap:xgboost", "log_odds", ("yes",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), **FLOAT32)
    _assert_adds_up(found, model.predict(x[:50], output_margin=True), FLOAT32["rtol"])


def test_xgboost_multiclass_has_every_class(classified: Data) -> None:
    x, y = classified
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=4, random_state=0).fit(x, y)
    found = _exact(model.get_booster(), x[:50], ["a", "b", "c"])
    assert (found.output, found.outputs) == ("raw", ("a", "b", "c"))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), **FLOAT32)
    _assert_adds_up(found, model.predict(x[:50], output_margin=True), FLOAT32["rtol"])


def test_xgboost_regressor(regressed: Data) -> None:
    x, y = regressed
    model = xgboost.XGBRegressor(n_estimators=50, max_depth=4, random_state=0).fit(x, y / 100)
    found = _exact(model, x[:50], None)
    assert (found.output, found.outputs) == ("value", ("value",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), **FLOAT32)
    _assert_adds_up(found, model.predict(x[:50]), FLOAT32["rtol"])


# shap's reference answer warns that its output shape changed in an old release.
@pytest.mark.filterwarnings("ignore:LightGBM binary classifier with TreeExplainer:UserWarning")
def test_lightgbm_binary_classifier(binary: Data) -> None:
    x, y = binary
    model = lightgbm.LGBMClassifier(n_estimators=50, random_state=0, verbose=-1).fit(x, y)
    found = _exact(model, x[:50], None)
    assert (found.method, found.output, found.outputs) == ("treeshap:lightgbm", "log_odds", ("1",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50], raw_score=True))


def test_lightgbm_multiclass_booster(classified: Data) -> None:
    x, y = classified
    model = lightgbm.LGBMClassifier(n_estimators=30, random_state=0, verbose=-1).fit(x, y)
    found = _exact(model.booster_, x[:50], ["a", "b", "c"])
    assert (found.output, found.outputs) == ("raw", ("a", "b", "c"))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50], raw_score=True))


def test_lightgbm_regressor(regressed: Data) -> None:
    x, y = regressed
    model = lightgbm.LGBMRegressor(n_estimators=50, random_state=0, verbose=-1).fit(x, y)
    found = _exact(model, x[:50], None)
    assert (found.output, found.outputs) == ("value", ("value",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50]))


def test_a_scaled_forest_pipeline_is_explained_exactly_on_its_trees(binary: Data) -> None:
    x, y = binary
    model = make_pipeline(StandardScaler(), RandomForestClassifier(50, random_state=0)).fit(x, y)
    found = _exact(model, x[:50], None)
    scaled = model[:-1].transform(x[:50])
    np.testing.assert_allclose(found.values, _shap_values(model[-1], scaled), atol=TOLERANCE)
    _assert_adds_up(found, model.predict_proba(x[:50]))


def test_boosting_in_scikit_learn_answers_in_log_odds(binary: Data) -> None:
    x, y = binary
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    found = _exact(model, x[:50], ["no", "yes"])
    assert (found.output, found.outputs) == ("log_odds", ("yes",))
    _assert_adds_up(found, model.decision_function(x[:50]))


def test_no_rows_still_has_a_base(binary: Data) -> None:
    x, y = binary
    model = RandomForestClassifier(10, random_state=0).fit(x, y)
    found = _exact(model, np.empty((0, len(FEATURES))), None)
    assert found.values.shape == (0, len(FEATURES), 2)
    np.testing.assert_allclose(found.base.sum(), 1.0)


def test_sampled_logistic_regression_adds_up(binary: Data) -> None:
    """The credits telescope to f(row) - mean f(background) whatever was drawn, so the
    sum is exact up to float rounding: 1e-9 leaves room for summing 8 differences."""
    x, y = binary
    model = LogisticRegression().fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=["no", "yes"], background=x[:100])
    assert (explainer.method, explainer.exact) == ("sampled:permutation", False)
    found = explainer.explain(x[100:120])  # how the budget bounds it: the next test
    assert found.output == "probability" and found.outputs == ("no", "yes")
    assert found.samples is not None and found.samples > len(FEATURES)
    _assert_adds_up(found, model.predict_proba(x[100:120]))


def test_a_tight_budget_draws_fewer_samples(binary: Data) -> None:
    x, y = binary
    model = LogisticRegression().fit(x, y)
    roomy = explainer_for(model, features=FEATURES, classes=["no", "yes"], background=x[:200])
    tight = explainer_for(
        model, features=FEATURES, classes=["no", "yes"], background=x[:200], time_budget=1e-4
    )
    rows = x[200:300]
    samples = roomy.explain(rows).samples, tight.explain(rows).samples
    assert samples[0] is not None and samples[1] is not None and samples[1] < samples[0]


def test_sampled_values_of_an_additive_model_are_exact(regressed: Data) -> None:
    """For f(x) = w.x + b every permutation credits w_i (x_i - mean background_i)."""
    x, y = regressed
    model = LinearRegression().fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=None, background=x[:50])
    found = explainer.explain(x[50:60])
    expected = model.coef_ * (x[50:60] - x[:50].mean(axis=0))
    np.testing.assert_allclose(found.values[:, :, 0], expected, atol=1e-9)
    assert found.outputs == ("value",)


def test_a_pipeline_that_mixes_features_is_sampled(binary: Data) -> None:
    x, y = binary
    model = make_pipeline(PCA(4), RandomForestClassifier(10, random_state=0)).fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=None, background=x[:20])
    assert explainer.method == "sampled:permutation"


def test_without_background_a_sampled_model_says_what_to_set(binary: Data) -> None:
    x, y = binary
    with pytest.raises(NotExplainableError, match="background") as caught:
        explainer_for(LogisticRegression().fit(x, y), features=FEATURES, classes=None)
    assert caught.value.hint is not None and "monitoring.background" in caught.value.hint


@pytest.mark.parametrize("library", ["sklearn", "xgboost", "lightgbm"])
def test_a_tree_model_with_another_feature_count_is_refused(binary, library) -> None:
    x, y = binary
    models = {
        "sklearn": lambda: RandomForestClassifier(5, random_state=0),
        "xgboost": lambda: xgboost.XGBClassifier(n_estimators=5),
        "lightgbm": lambda: lightgbm.LGBMClassifier(n_estimators=5, verbose=-1),
    }
    model = models[library]().fit(x[:, :6], y)
    with pytest.raises(ModelDefinitionError, match="trained on 6 features"):
        explainer_for(model, features=FEATURES, classes=None)


def test_classes_that_do_not_match_the_model_are_refused(classified: Data) -> None:
    x, y = classified
    model = RandomForestClassifier(5, random_state=0).fit(x, y)
    with pytest.raises(ModelDefinitionError, match="3 classes"):
        explainer_for(model, features=FEATURES, classes=["a", "b"])


def test_rows_of_the_wrong_width_are_the_requests_fault(binary: Data) -> None:
    x, y = binary
    explainer = explainer_for(RandomForestClassifier(5).fit(x, y), features=FEATURES, classes=None)
    with pytest.raises(RequestError, match="8 features"):
        explainer.explain(x[:3, :5])


def test_a_predict_with_other_columns_than_classes_is_refused(binary: Data) -> None:
    x, y = binary
    model = LogisticRegression().fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=["a", "b", "c"], background=x[:10])
    with pytest.raises(ModelOutputError, match="one output column per class"):
        explainer.explain(x[:2])


def test_a_forest_trained_in_another_column_order_is_explained_on_the_schemas(
    classified: Data,
) -> None:
    x, y = classified
    trained = pd.DataFrame(x, columns=FEATURES[::-1])  # the model's order: f7 .. f0
    model = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(trained, y)
    rows = x[:5, ::-1]  # the same values in the schema's order: f0 .. f7
    found = _exact(model, rows, None)
    in_model_order = pd.DataFrame(x[:5], columns=FEATURES[::-1])
    _assert_adds_up(found, model.predict_proba(in_model_order))
    expected = _shap_values(model, in_model_order.to_numpy())[:, ::-1, :]  # back to f0 .. f7
    np.testing.assert_allclose(found.values, expected, atol=TOLERANCE)


def test_an_early_stopped_xgboost_model_adds_up_to_its_own_margin(binary: Data) -> None:
    x, y = binary
    model = xgboost.XGBClassifier(n_estimators=200, max_depth=3, early_stopping_rounds=3)
    model.fit(x[:300], y[:300], eval_set=[(x[300:], y[300:])], verbose=False)
    assert model.best_iteration < 199  # it did stop early
    found = _exact(model, x[:10], None)
    _assert_adds_up(found, model.predict(x[:10], output_margin=True), rtol=1e-6)


def test_scalers_before_a_booster_are_explained_exactly_on_the_booster(binary: Data) -> None:
    x, y = binary
    frame = pd.DataFrame(x, columns=FEATURES)
    model = make_pipeline(StandardScaler(), xgboost.XGBClassifier(n_estimators=20)).fit(frame, y)
    found = _exact(model, x[:10], None)
    assert found.method == "treeshap:xgboost" and found.output == "log_odds"
    margin = model[-1].predict(model[0].transform(frame.head(10)), output_margin=True)
    _assert_adds_up(found, margin, rtol=1e-6)


def test_an_early_stopped_booster_file_is_explained_with_every_tree_as_served(
    binary: Data, tmp_path: Path
) -> None:
    """A Booster read from a file is served with all its trees (the runner does not
    know where training stopped): its explanation adds up to that."""
    x, y = binary
    model = xgboost.XGBClassifier(n_estimators=200, max_depth=3, early_stopping_rounds=3)
    model.fit(x[:300], y[:300], eval_set=[(x[300:], y[300:])], verbose=False)
    model.save_model(tmp_path / "model.json")
    booster = xgboost.Booster(model_file=str(tmp_path / "model.json"))
    found = _exact(booster, x[:10], None)
    served = booster.predict(xgboost.DMatrix(x[:10]), output_margin=True)
    _assert_adds_up(found, served, rtol=1e-6)
