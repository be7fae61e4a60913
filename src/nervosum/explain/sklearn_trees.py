"""scikit-learn tree models through ``shap.TreeExplainer`` (path-dependent TreeSHAP).

Forests and single trees answer in their own output space, probabilities for a
classifier and the value for a regressor. Gradient boosting answers in its margin:
log-odds for a binary classifier (one column, the positive class), the softmax's inputs
for a multi-class one. A pipeline whose steps before the trees only rescale each feature
is explained on the trees with the rescaled rows: a strictly increasing per-feature map
sends each split to one split on the original feature, so the attributions are the
pipeline's own, exactly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nervosum.errors import ModelDefinitionError
from nervosum.explain.exact import ExactExplainer, check_width, class_names

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
_RESCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")
# HistGradientBoostingRegressor losses whose prediction is the raw sum (identity link).
_IDENTITY_LOSSES = {"squared_error", "absolute_error", "quantile"}


def _is_one_of(model: Any, names: Sequence[str]) -> bool:
    """An instance of one of scikit-learn's classes ``names`` (subclasses included)."""
    return any(
        cls.__module__.startswith("sklearn.") and cls.__name__ in names
        for cls in type(model).__mro__
    )


def _space(model: Any, classes: Sequence[str] | None) -> tuple[str, tuple[str, ...]] | None:
    """``output`` and ``outputs`` for a tree model shap explains, None for any other."""
    if getattr(model, "n_outputs_", 1) != 1:
        return None  # multi-output trees: several value columns per class, not one answer
    labels = getattr(model, "classes_", None)
    if _is_one_of(model, _FORESTS):
        if labels is None:
            return "value", ("value",)
        return "probability", class_names(classes, labels, len(labels))
    if not _is_one_of(model, _BOOSTING):
        return None
    if labels is None:
        loss = getattr(model, "loss", "squared_error")
        identity = _is_one_of(model, ("GradientBoostingRegressor",)) or loss in _IDENTITY_LOSSES
        return ("value" if identity else "raw"), ("value",)
    names = class_names(classes, labels, len(labels))
    if len(labels) == 2:
        return "log_odds", (names[1],)
    if _is_one_of(model, ("GradientBoostingClassifier",)):
        return None  # shap's TreeExplainer reads binary GradientBoostingClassifier only
    return "raw", names


def _rescaling(model: Any) -> tuple[Any, Callable[[np.ndarray], np.ndarray] | None] | None:
    """The model to explain and what to apply to the rows first, or None when a
    pipeline's earlier steps do more than rescale each feature in place."""
    if not _is_one_of(model, ("Pipeline",)):
        return model, None
    steps = [step for _, step in model.steps]
    before = steps[:-1]
    if not all(step in (None, "passthrough") or _is_one_of(step, _RESCALERS) for step in before):
        return None
    if not before:
        return steps[-1], None
    head = model[:-1]
    columns = getattr(model, "feature_names_in_", None)

    def prepare(rows: np.ndarray) -> np.ndarray:
        # A pipeline fitted on a DataFrame warns on a bare array: hand it its columns.
        given = rows if columns is None else pd.DataFrame(rows, columns=columns)
        return np.asarray(head.transform(given), dtype=np.float64)

    return steps[-1], prepare


def sklearn_tree_explainer(
    model: Any, features: Sequence[str], classes: Sequence[str] | None
) -> ExactExplainer | None:
    """Exact TreeSHAP for a scikit-learn tree model or rescaling pipeline, else None."""
    unwrapped = _rescaling(model)
    if unwrapped is None:
        return None
    trees, prepare = unwrapped
    space = _space(trees, classes)
    if space is None:
        return None
    check_width(int(getattr(model, "n_features_in_", len(features))), features, "the model")
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
    return ExactExplainer("treeshap:shap", output, outputs, tuple(features), contributions, prepare)
