"""Which explainer a loaded model gets: exact TreeSHAP when it is a tree model nervosum
can read, else the sampled estimate over a background set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from nervosum.errors import ModelDefinitionError, NotExplainableError
from nervosum.explain.attributions import Explainer
from nervosum.explain.boosters import from_library, lightgbm_explainer, xgboost_explainer
from nervosum.explain.exact import ExactExplainer, column_order
from nervosum.explain.pipelines import unwrap_rescaling
from nervosum.explain.sampled import PermutationExplainer
from nervosum.explain.sklearn_trees import sklearn_tree_explainer

__all__ = ["exact_explainer", "explainer_for", "sampled_explainer"]


def explainer_for(
    model: Any,
    *,
    features: Sequence[str],
    classes: Sequence[str] | None,
    background: np.ndarray | None = None,
    predict: Callable[[np.ndarray], np.ndarray] | None = None,
    time_budget: float = 1.0,
    threads: int = 1,
) -> Explainer:
    """The explainer for ``model``, chosen once at load: :func:`exact_explainer`, else
    :func:`sampled_explainer`.

    ``features`` names the rows' columns in order; ``classes`` the classifier's classes
    in its output order (None for a regressor, or to take the model's own labels).
    """
    exact = exact_explainer(model, features, classes, threads)
    if exact is not None:
        return exact
    return sampled_explainer(
        model,
        features=features,
        classes=classes,
        background=background,
        predict=predict,
        time_budget=time_budget,
    )


def sampled_explainer(
    model: Any,
    *,
    features: Sequence[str],
    classes: Sequence[str] | None,
    background: np.ndarray | None,
    predict: Callable[[np.ndarray], np.ndarray] | None = None,
    time_budget: float = 1.0,
) -> Explainer:
    """The sampled estimate for a model without trees nervosum can read. It needs
    ``background`` rows and ``predict`` (rows to an (n, outputs) array of probabilities
    or values; default: the model's ``predict_proba`` when ``classes`` are given, else
    its ``predict``), and keeps each call within ``time_budget`` seconds."""
    if background is None:
        raise NotExplainableError(
            f"{type(model).__name__} is not a tree model, so its attributions are sampled"
            " over a background set, and none is configured",
            hint="set monitoring.background: FILE (rows of the model's input features), or"
            " monitoring.reference: FILE",
        )
    return PermutationExplainer(
        predict=predict or _default_predict(model, classes),
        features=tuple(features),
        background=background,
        output="probability" if classes else "value",
        outputs=tuple(classes) if classes else None,
        time_budget=time_budget,
    )


def exact_explainer(
    model: Any, features: Sequence[str], classes: Sequence[str] | None, threads: int = 1
) -> ExactExplainer | None:
    """The exact explainer of a tree model, or of a pipeline of scalers before one (its
    rows scaled first, in the pipeline's column order), on up to ``threads`` threads;
    None for anything else."""
    unwrapped = unwrap_rescaling(model)
    if unwrapped is None:
        return None
    trees, prepare = unwrapped
    found: ExactExplainer | None = None
    if from_library(trees, "xgboost"):
        found = xgboost_explainer(trees, features, classes)
    elif from_library(trees, "lightgbm"):
        found = lightgbm_explainer(trees, features, classes)
    elif from_library(trees, "sklearn"):
        found = sklearn_tree_explainer(trees, features, classes, threads)
    if found is None or trees is model:
        return found
    order = column_order(getattr(model, "feature_names_in_", None), features)
    return replace(found, prepare=prepare, order=order)


def _default_predict(model: Any, classes: Sequence[str] | None) -> Callable[[np.ndarray], Any]:
    """The model's own probabilities or values, when the caller passes no function."""
    method = getattr(model, "predict_proba" if classes else "predict", None)
    if not callable(method):
        raise ModelDefinitionError(
            f"{type(model).__name__} has no {'predict_proba' if classes else 'predict'}"
            " to sample attributions from",
            hint="pass the function that maps rows to the model's outputs",
        )
    return method  # type: ignore[no-any-return]
