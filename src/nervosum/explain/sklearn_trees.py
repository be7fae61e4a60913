"""scikit-learn tree models: exact path-dependent TreeSHAP.

Forests and single trees go through nervosum's own compiled kernel
(explain/path_shap.py), which is exact like ``shap.TreeExplainer`` and an order of
magnitude faster on deep forests; they answer in their own output space, probabilities
for a classifier and the value for a regressor. Gradient boosting goes through
``shap.TreeExplainer`` and answers in its margin:
log-odds for a binary classifier (one column, the positive class), the softmax's inputs
for a multi-class one. (A pipeline of scalers before the trees: explain/pipelines.py.)
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from nervosum.errors import ModelDefinitionError
from nervosum.explain.exact import (
    Contributions,
    ExactExplainer,
    check_width,
    class_names,
    column_order,
    is_sklearn,
)
from nervosum.explain.tree_paths import path_length, sklearn_paths

__all__ = ["sklearn_tree_explainer"]

log = logging.getLogger("nervosum.explain")

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
# Leaf-path tests (every leaf's depth, summed) past which a forest goes to shap: the
# paths keep up to one 33-byte slot per test, so this bounds them near 260 MB. A
# 100-tree forest grown on 10,000 rows has about 1.1 million.
MOST_PATH_EDGES = 8_000_000
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
    trees: Any, features: Sequence[str], classes: Sequence[str] | None, threads: int = 1
) -> ExactExplainer | None:
    """Exact TreeSHAP for a scikit-learn tree model, else None; nervosum's kernel runs
    on up to ``threads`` threads."""
    space = _space(trees, classes)
    if space is None:
        return None
    check_width(int(getattr(trees, "n_features_in_", len(features))), features, "the model")
    output, outputs = space
    estimators = getattr(trees, "estimators_", None)
    estimators = list(estimators) if estimators is not None else [trees]
    if is_sklearn(trees, _FORESTS) and _paths_fit(estimators):
        paths = _paths_contributions(trees, estimators, len(features), threads)
        method, contributions = "treeshap:nervosum", paths
    else:
        method, contributions = "treeshap:shap", _shap_contributions(trees)
    order = column_order(getattr(trees, "feature_names_in_", None), features)
    return ExactExplainer(method, output, outputs, tuple(features), contributions, order=order)


def _paths_fit(estimators: list[Any]) -> bool:
    """Whether the trees' leaf paths fit :data:`MOST_PATH_EDGES`; a larger forest goes
    to shap, which keeps only the nodes (slower, and said in the log)."""
    edges = path_length(estimators)
    if edges <= MOST_PATH_EDGES:
        return True
    log.info(
        "the forest's leaf paths hold %d tests (more than %d): it is explained by shap,"
        " slower, in less memory",
        edges,
        MOST_PATH_EDGES,
    )
    return False


def _paths_contributions(
    trees: Any, estimators: list[Any], width: int, threads: int
) -> Contributions:
    """A forest's or a tree's leaf paths, read once, through the compiled kernel."""
    path_shap = _library("nervosum.explain.path_shap", trees).path_shap
    paths = sklearn_paths(estimators, probabilities=getattr(trees, "classes_", None) is not None)
    base = paths.base

    def contributions(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return base, path_shap(paths, rows, width, threads)

    return contributions


def _shap_contributions(trees: Any) -> Contributions:
    """Gradient boosting through ``shap.TreeExplainer``, which reads its margins."""
    shap = _library("shap", trees)
    explainer = shap.TreeExplainer(trees, feature_perturbation="tree_path_dependent")

    def contributions(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = explainer.shap_values(rows, check_additivity=False)
        return np.atleast_1d(explainer.expected_value), np.asarray(values)

    return contributions


def _library(name: str, trees: Any) -> Any:
    """The module computing the attributions; the ``explain`` extra installs what it needs
    (shap, numba)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ModelDefinitionError(
            f"exact attributions for {type(trees).__name__} need {exc.name or name},"
            " which is not installed",
            hint="pip install 'nervosum[explain]'",
        ) from exc
