"""scikit-learn tree models: exact path-dependent TreeSHAP.

Forests, single trees and gradient boosting go through nervosum's own compiled kernel
(explain/path_shap.py), which is exact like ``shap.TreeExplainer`` and an order of
magnitude faster on deep forests. Forests and trees answer in their own output space,
probabilities for a classifier and the value for a regressor; gradient boosting in its
margin: log-odds for a binary classifier (one column, the positive class; the
exponential loss's margin, half the log-odds, is doubled), the softmax's inputs for a
multi-class one (which shap cannot read). Histogram gradient boosting and forests past
:data:`MOST_PATH_EDGES` go through ``shap.TreeExplainer``; gradient boosting the kernel
cannot read (started from a model of the user's, or past the bound) is not exact here
(None: sampled), since shap misreads or refuses most of it. (A pipeline of scalers
before the trees: explain/pipelines.py.)
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nervosum.errors import ModelDefinitionError
from nervosum.explain.exact import (
    Contributions,
    ExactExplainer,
    check_width,
    class_names,
    column_order,
    is_sklearn,
)
from nervosum.explain.tree_paths import LeafPaths, boosting_paths, path_length, sklearn_paths

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
_GRADIENT = ("GradientBoostingClassifier", "GradientBoostingRegressor")
_BOOSTING = (
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
)
# Leaf-path tests (every leaf's depth, summed) past which a forest goes to shap: the
# paths keep up to one 33-byte slot per test (near 260 MB here, with the leaves' values
# beside), and reading them peaks near twice that. A 100-tree forest grown on 10,000
# rows has about 1.1 million.
MOST_PATH_EDGES = 8_000_000
# HistGradientBoostingRegressor losses whose prediction is the raw sum (identity link).
_IDENTITY_LOSSES = {"squared_error", "absolute_error", "quantile"}


def _space(model: Any, classes: Sequence[str] | None) -> tuple[str, tuple[str, ...]] | None:
    """``output`` and ``outputs`` for a tree model explained exactly (by the kernel or
    shap), None for any other."""
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
    paths = _read_paths(trees)
    if paths is not None:
        method, contributions = "treeshap:nervosum", _kernel(trees, paths, len(features), threads)
    elif is_sklearn(trees, _GRADIENT):
        return None  # shap misreads the exponential loss's start, and refuses init='zero'
    else:
        method, contributions = "treeshap:shap", _shap_contributions(trees)
    order = column_order(getattr(trees, "feature_names_in_", None), features)
    return ExactExplainer(method, output, outputs, tuple(features), contributions, order=order)


def _read_paths(trees: Any) -> tuple[LeafPaths, np.ndarray] | None:
    """The leaf paths of a forest, a tree or gradient boosting (which starts from a
    constant: its ``init_`` a prior or zero) and the output they start from; None for
    histogram boosting, another start, or paths past :data:`MOST_PATH_EDGES`."""
    if is_sklearn(trees, _FORESTS):
        estimators = list(getattr(trees, "estimators_", [trees]))
        if not _paths_fit(estimators, "shap, slower, in less memory"):
            return None
        paths = sklearn_paths(estimators, probabilities=hasattr(trees, "classes_"))
        return paths, paths.base
    if not is_sklearn(trees, _GRADIENT) or not _starts_constant(trees):
        return None
    stages = np.asarray(trees.estimators_)
    if not _paths_fit(list(stages.flat), "the sampled estimate"):
        return None
    # the exponential loss's margin is half the log-odds: doubled, it is the log-odds
    scale = 2.0 if getattr(trees, "loss", None) == "exponential" else 1.0
    paths = boosting_paths(stages, scale * float(trees.learning_rate))
    return paths, paths.base + scale * _start(trees, stages)


def _starts_constant(model: Any) -> bool:
    """Gradient boosting starts from its ``init_``'s output: a constant for the default
    (a prior: a dummy estimator), for ``init='zero'`` and a dummy regressor; a model's
    own output, or a dummy classifier drawing at random (stratified, uniform), else."""
    init = getattr(model, "init_", None)
    if isinstance(init, str):
        return init == "zero"
    if is_sklearn(init, ("DummyRegressor",)):
        return True
    constant = ("prior", "most_frequent", "constant")
    return is_sklearn(init, ("DummyClassifier",)) and getattr(init, "strategy", "") in constant


def _start(model: Any, stages: np.ndarray) -> np.ndarray:
    """The constant margin boosting starts from: the model's margin for one row less
    what its trees add to it (public calls only; the constant is the same for any row)."""
    row = np.zeros((1, int(model.n_features_in_)))
    names = getattr(model, "feature_names_in_", None)
    asked = pd.DataFrame(row, columns=names) if names is not None else row  # names: no warning
    margin = model.decision_function(asked) if hasattr(model, "classes_") else model.predict(asked)
    added = [
        model.learning_rate * sum(float(tree.predict(row)[0]) for tree in stages[:, column])
        for column in range(stages.shape[1])
    ]
    start: np.ndarray = np.asarray(margin, dtype=np.float64).reshape(-1) - np.asarray(added)
    return start


def _paths_fit(estimators: list[Any], instead: str) -> bool:
    """Whether the trees' leaf paths fit :data:`MOST_PATH_EDGES`; past it the model is
    explained ``instead`` another way, said in the log."""
    edges = path_length(estimators)
    if edges <= MOST_PATH_EDGES:
        return True
    log.info(
        "the model's leaf paths hold %d tests (more than %d): it is explained by %s",
        edges,
        MOST_PATH_EDGES,
        instead,
    )
    return False


def _kernel(
    trees: Any, read: tuple[LeafPaths, np.ndarray], width: int, threads: int
) -> Contributions:
    """Leaf paths, read once, through the compiled kernel."""
    paths, base = read
    kernel = _library("nervosum.explain.path_shap", trees).PathKernel(paths, width, threads)

    def contributions(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return base, kernel(rows)

    return contributions


def _shap_contributions(trees: Any) -> Contributions:
    """Histogram gradient boosting, and forests past the bound, through
    ``shap.TreeExplainer``."""
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
