"""XGBoost and LightGBM: the boosters' own TreeSHAP (``pred_contribs`` / ``pred_contrib``).

Both answer in margin space, the sum of the trees before the objective's link: log-odds
for a binary objective, the softmax's inputs for a multi-class one, the value itself
for an identity-link regression. A binary booster has one margin, for the positive class,
so its attributions have one output column named after that class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from nervosum.explain.exact import ExactExplainer, check_width, class_names, column_order

__all__ = ["from_library", "lightgbm_explainer", "xgboost_explainer"]

# Objectives whose margin is the prediction itself (identity link).
_XGBOOST_VALUE = {
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:pseudohubererror",
    "reg:quantileerror",
}
_LIGHTGBM_VALUE = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}


def from_library(model: Any, library: str) -> bool:
    """Whether ``model``'s class (or a base class) comes from ``library``: checked by name,
    so that a library that is not installed is never imported to ask."""
    return any(cls.__module__.split(".")[0] == library for cls in type(model).__mro__)


def _margin_space(
    *,
    binary: bool,
    multiclass: bool,
    value: bool,
    count: int,
    classes: Sequence[str] | None,
    model_classes: Sequence[object] | None,
) -> tuple[str, tuple[str, ...]]:
    """``output`` and ``outputs`` for a booster's margins."""
    if binary:
        names = class_names(classes, model_classes, 2)
        return "log_odds", (names[1],)
    if multiclass:
        return "raw", class_names(classes, model_classes, count)
    outputs = ("value",) if count == 1 else tuple(f"value_{i}" for i in range(count))
    return ("value" if value else "raw"), outputs


def _booster_explainer(
    method: str,
    names: Sequence[str] | None,
    features: Sequence[str],
    *,
    output: str,
    outputs: tuple[str, ...],
    margins: Any,
) -> ExactExplainer:
    """An exact explainer over ``margins(rows) -> (n, outputs * (features + 1))``: each
    output's contributions with the bias in its last column, the layout both boosters use."""
    width = len(features)

    def contributions(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = np.asarray(margins(rows), dtype=np.float64)
        found = found.reshape(len(rows), len(outputs), width + 1).transpose(0, 2, 1)
        return found[0, width, :], found[:, :width, :]

    order = column_order(names, features)
    return ExactExplainer(method, output, outputs, tuple(features), contributions, order=order)


def xgboost_explainer(
    model: Any, features: Sequence[str], classes: Sequence[str] | None
) -> ExactExplainer:
    """An XGBoost ``Booster`` or scikit-learn-style ``XGBModel``, explained by the booster."""
    import xgboost

    booster = model if isinstance(model, xgboost.Booster) else model.get_booster()
    check_width(booster.num_features(), features, "the XGBoost model")
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    param = learner["learner_model_param"]
    count = max(int(param.get("num_class", "0")), int(param.get("num_target", "1")), 1)
    output, outputs = _margin_space(
        binary=objective in {"binary:logistic", "binary:logitraw"},
        multiclass=objective.startswith("multi:"),
        value=objective in _XGBOOST_VALUE,
        count=count,
        classes=classes,
        model_classes=getattr(model, "classes_", None),
    )
    names = booster.feature_names
    # The scikit-learn wrapper of a training that stopped early predicts with the trees up
    # to its best iteration; a Booster read from a file is served with all of them.
    best = None if isinstance(model, xgboost.Booster) else getattr(model, "best_iteration", None)
    trees = (0, int(best) + 1) if best is not None else (0, 0)

    def margins(rows: np.ndarray) -> Any:
        matrix = xgboost.DMatrix(rows, feature_names=names)
        return booster.predict(matrix, pred_contribs=True, iteration_range=trees)

    return _booster_explainer(
        "treeshap:xgboost", names, features, output=output, outputs=outputs, margins=margins
    )


def lightgbm_explainer(
    model: Any, features: Sequence[str], classes: Sequence[str] | None
) -> ExactExplainer:
    """A LightGBM ``Booster`` or ``LGBMModel``, explained by the booster."""
    import lightgbm

    booster = model if isinstance(model, lightgbm.Booster) else model.booster_
    check_width(booster.num_feature(), features, "the LightGBM model")
    # Only the first iteration's trees: the header is all that is wanted here.
    objective = str(booster.dump_model(num_iteration=1).get("objective", "")).split(" ")[0]
    count = booster.num_model_per_iteration()
    output, outputs = _margin_space(
        binary=objective == "binary" and count == 1,
        multiclass=objective.startswith("multiclass"),
        value=objective in _LIGHTGBM_VALUE,
        count=count,
        classes=classes,
        model_classes=getattr(model, "classes_", None),
    )
    names = booster.feature_name()
    # LightGBM invents Column_0.. when trained without names: those say nothing of order.
    named = None if names == [f"Column_{i}" for i in range(len(names))] else names

    def margins(rows: np.ndarray) -> Any:
        return booster.predict(rows, pred_contrib=True)

    return _booster_explainer(
        "treeshap:lightgbm", named, features, output=output, outputs=outputs, margins=margins
    )
