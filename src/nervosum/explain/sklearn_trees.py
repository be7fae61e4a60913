"""scikit-learn tree models through ``shap.TreeExplainer`` (path-dependent TreeSHAP).

Forests and single trees answer in their own output space, probabilities for a
classifier and the value for a regressor. Gradient boosting answers in its margin:
log-odds for a binary classifier (one column, the positive class), the softmax's inputs
for a multi-class one. (A pipeline of scalers before the trees: explain/pipelines.py.)
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from nervosum.errors import ModelDefinitionError
from nervosum.explain.exact import (
    ExactExplainer,
    check_width,
    class_names,
    column_order,
    is_sklearn,
)

__all__ = ["sklearn_tree_explainer"]

_FORESTS = (
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
)
_BOOSTING = (
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
)
# HistGradientBoostingRegressor losses whose prediction is the raw sum (identity link).
_IDENTITY_LOSSES = {"squared_error", "absolute_error", "quantile"}


def _space(model: Any, classes: Sequence[str] | None) -> tuple[str, tuple[str, ...]] | None:
    """``output`` and ``outputs`` for a tree model shap explains, None for any other."""
    if getattr(model, "n_outputs_", 1) != 1:
        return None  # multi-output trees: several value columns per class, not one answer
    labels = getattr(model, "classes_", None)
    if is_sklearn(model, _FORESTS):
        if labels is None:
            return "value", ("value",)
        return "probability", class_names(classes, labels, len(labels))
    if not is_sklearn(model, _BOOSTING):
        return None
    if labels is None:
        loss = getattr(model, "loss", "squared_error")
        identity = is_sklearn(model, ("GradientBoostingRegressor",)) or loss in _IDENTITY_LOSSES
        return ("value" if identity else "raw"), ("value",)
    names = class_names(classes, labels, len(labels))
    if len(labels) == 2:
        return "log_odds", (names[1],)
    if is_sklearn(model, ("GradientBoostingClassifier",)):
        return None  # shap's TreeExplainer reads binary GradientBoostingClassifier only
    return "raw", names


def sklearn_tree_explainer(
    trees: Any, features: Sequence[str], classes: Sequence[str] | None
) -> ExactExplainer | None:
    """Exact TreeSHAP for a scikit-learn tree model, else None."""
    space = _space(trees, classes)
    if space is None:
        return None
    check_width(int(getattr(trees, "n_features_in_", len(features))), features, "the model")
    try:
        shap = importlib.import_module("shap")
    except ImportError as exc:
        raise ModelDefinitionError(
            f"exact attributions for {type(trees).__name__} need shap, which is not installed",
            hint="pip install 'nervosum[explain]'",
        ) from exc
    explainer = shap.TreeExplainer(trees, feature_perturbation="tree_path_dependent")

    def contributions(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = explainer.shap_values(rows, check_additivity=False)
        return np.atleast_1d(explainer.expected_value), np.asarray(values)

    output, outputs = space
    order = column_order(getattr(trees, "feature_names_in_", None), features)
    return ExactExplainer(
        "treeshap:shap", output, outputs, tuple(features), contributions, order=order
    )
