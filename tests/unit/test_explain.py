"""nervosum.explain against the real libraries: exact TreeSHAP equals the ``shap``
library's and adds up to the model's output; the sampled estimate adds up, keeps to its
time budget and says how many evaluations it made."""

from __future__ import annotations

import time

import lightgbm
import numpy as np
import pytest
import shap
import xgboost
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nervosum.errors import ModelDefinitionError, ModelOutputError, RequestError
from nervosum.explain import Attributions, explainer_for

FEATURES = [f"f{i}" for i in range(8)]
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


def test_forest_classifier_equals_shap_and_sums_to_probabilities(classified) -> None:
    x, y = classified
    model = RandomForestClassifier(n_estimators=100, max_depth=6, random_state=0).fit(x, y)
    found = _exact(model, x[:50], ["a", "b", "c"])
    assert (found.method, found.output, found.outputs) == (
        "treeshap:shap",
        "probability",
        ("a", "b", "c"),
    )
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict_proba(x[:50]))


def test_forest_regressor_equals_shap_and_sums_to_the_value(regressed) -> None:
    x, y = regressed
    model = RandomForestRegressor(n_estimators=100, max_depth=6, random_state=0).fit(x, y)
    found = _exact(model, x[:50], None)
    assert (found.output, found.outputs) == ("value", ("value",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50]))


def test_xgboost_binary_classifier_is_one_log_odds_column(binary) -> None:
    x, y = binary
    model = xgboost.XGBClassifier(n_estimators=50, max_depth=4, random_state=0).fit(x, y)
    found = _exact(model, x[:50], ["no", "yes"])
    assert (found.method, found.output, found.outputs) == ("treeshap:xgboost", "log_odds", ("yes",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), **FLOAT32)
    _assert_adds_up(found, model.predict(x[:50], output_margin=True), FLOAT32["rtol"])


def test_xgboost_multiclass_has_every_class(classified) -> None:
    x, y = classified
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=4, random_state=0).fit(x, y)
    found = _exact(model.get_booster(), x[:50], ["a", "b", "c"])
    assert (found.output, found.outputs) == ("raw", ("a", "b", "c"))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), **FLOAT32)
    _assert_adds_up(found, model.predict(x[:50], output_margin=True), FLOAT32["rtol"])


def test_xgboost_regressor(regressed) -> None:
    x, y = regressed
    model = xgboost.XGBRegressor(n_estimators=50, max_depth=4, random_state=0).fit(x, y / 100)
    found = _exact(model, x[:50], None)
    assert (found.output, found.outputs) == ("value", ("value",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), **FLOAT32)
    _assert_adds_up(found, model.predict(x[:50]), FLOAT32["rtol"])


# shap's reference answer warns that its output shape changed in an old release.
@pytest.mark.filterwarnings("ignore:LightGBM binary classifier with TreeExplainer:UserWarning")
def test_lightgbm_binary_classifier(binary) -> None:
    x, y = binary
    model = lightgbm.LGBMClassifier(n_estimators=50, random_state=0, verbose=-1).fit(x, y)
    found = _exact(model, x[:50], None)
    assert (found.method, found.output, found.outputs) == ("treeshap:lightgbm", "log_odds", ("1",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50], raw_score=True))


def test_lightgbm_multiclass_booster(classified) -> None:
    x, y = classified
    model = lightgbm.LGBMClassifier(n_estimators=30, random_state=0, verbose=-1).fit(x, y)
    found = _exact(model.booster_, x[:50], ["a", "b", "c"])
    assert (found.output, found.outputs) == ("raw", ("a", "b", "c"))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50], raw_score=True))


def test_lightgbm_regressor(regressed) -> None:
    x, y = regressed
    model = lightgbm.LGBMRegressor(n_estimators=50, random_state=0, verbose=-1).fit(x, y)
    found = _exact(model, x[:50], None)
    assert (found.output, found.outputs) == ("value", ("value",))
    np.testing.assert_allclose(found.values, _shap_values(model, x[:50]), rtol=0, atol=TOLERANCE)
    _assert_adds_up(found, model.predict(x[:50]))


def test_a_scaled_forest_pipeline_is_explained_exactly_on_its_trees(binary) -> None:
    x, y = binary
    model = make_pipeline(StandardScaler(), RandomForestClassifier(50, random_state=0)).fit(x, y)
    found = _exact(model, x[:50], None)
    scaled = model[:-1].transform(x[:50])
    np.testing.assert_allclose(found.values, _shap_values(model[-1], scaled), atol=TOLERANCE)
    _assert_adds_up(found, model.predict_proba(x[:50]))


def test_boosting_in_scikit_learn_answers_in_log_odds(binary) -> None:
    x, y = binary
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    found = _exact(model, x[:50], ["no", "yes"])
    assert (found.output, found.outputs) == ("log_odds", ("yes",))
    _assert_adds_up(found, model.decision_function(x[:50]))


def test_no_rows_still_has_a_base(binary) -> None:
    x, y = binary
    model = RandomForestClassifier(10, random_state=0).fit(x, y)
    found = _exact(model, np.empty((0, len(FEATURES))), None)
    assert found.values.shape == (0, len(FEATURES), 2)
    np.testing.assert_allclose(found.base.sum(), 1.0)


def test_sampled_logistic_regression_adds_up_within_budget(binary) -> None:
    """The credits telescope to f(row) - mean f(background) whatever was drawn, so the
    sum is exact up to float rounding: 1e-9 leaves room for summing 8 differences."""
    x, y = binary
    model = LogisticRegression().fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=["no", "yes"], background=x[:100])
    assert (explainer.method, explainer.exact) == ("sampled:permutation", False)
    start = time.perf_counter()
    found = explainer.explain(x[100:120])
    spent = time.perf_counter() - start
    assert spent < 1.0 + 0.25  # the budget, plus one permutation's overrun at most
    assert found.output == "probability" and found.outputs == ("no", "yes")
    assert found.samples is not None and found.samples > len(FEATURES)
    _assert_adds_up(found, model.predict_proba(x[100:120]))


def test_a_tight_budget_draws_fewer_samples(binary) -> None:
    x, y = binary
    model = LogisticRegression().fit(x, y)
    roomy = explainer_for(model, features=FEATURES, classes=["no", "yes"], background=x[:200])
    tight = explainer_for(
        model, features=FEATURES, classes=["no", "yes"], background=x[:200], time_budget=1e-4
    )
    rows = x[200:300]
    samples = roomy.explain(rows).samples, tight.explain(rows).samples
    assert samples[0] is not None and samples[1] is not None and samples[1] < samples[0]


def test_sampled_values_of_an_additive_model_are_exact(regressed) -> None:
    """For f(x) = w.x + b every permutation credits w_i (x_i - mean background_i)."""
    x, y = regressed
    model = LinearRegression().fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=None, background=x[:50])
    found = explainer.explain(x[50:60])
    expected = model.coef_ * (x[50:60] - x[:50].mean(axis=0))
    np.testing.assert_allclose(found.values[:, :, 0], expected, atol=1e-9)
    assert found.outputs == ("value",)


def test_a_pipeline_that_mixes_features_is_sampled(binary) -> None:
    x, y = binary
    model = make_pipeline(PCA(4), RandomForestClassifier(10, random_state=0)).fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=None, background=x[:20])
    assert explainer.method == "sampled:permutation"


def test_multiclass_gradient_boosting_is_sampled(classified) -> None:
    """shap's TreeExplainer reads only binary GradientBoostingClassifier."""
    x, y = classified
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=None, background=x[:20])
    assert explainer.method == "sampled:permutation"


def test_without_background_a_sampled_model_says_what_to_set(binary) -> None:
    x, y = binary
    with pytest.raises(RequestError, match="background") as caught:
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


def test_classes_that_do_not_match_the_model_are_refused(classified) -> None:
    x, y = classified
    model = RandomForestClassifier(5, random_state=0).fit(x, y)
    with pytest.raises(ModelDefinitionError, match="3 classes"):
        explainer_for(model, features=FEATURES, classes=["a", "b"])


def test_rows_of_the_wrong_width_are_the_requests_fault(binary) -> None:
    x, y = binary
    explainer = explainer_for(RandomForestClassifier(5).fit(x, y), features=FEATURES, classes=None)
    with pytest.raises(RequestError, match="8 features"):
        explainer.explain(x[:3, :5])


def test_a_predict_with_other_columns_than_classes_is_refused(binary) -> None:
    x, y = binary
    model = LogisticRegression().fit(x, y)
    explainer = explainer_for(model, features=FEATURES, classes=["a", "b", "c"], background=x[:10])
    with pytest.raises(ModelOutputError, match="one output column per class"):
        explainer.explain(x[:2])
