"""How well a freshly trained model does on the rows held out from training.

scikit-learn computes the figures, so they mean exactly what its documentation says:
accuracy and F1 (macro: every class counts the same; weighted: by support) for a
classification, MAE, RMSE and R2 for a regression.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

from nervosum.errors import RequestError


def sklearn_module(name: str) -> Any:
    """``sklearn.<name>``, or one clear error naming the extra to install."""
    try:
        return importlib.import_module(f"sklearn.{name}")
    except ImportError:
        raise RequestError(
            "nervosum train splits and measures with scikit-learn, which is not installed",
            hint="pip install 'nervosum[sklearn]'",
        ) from None


def holdout_scores(task: str, truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """The figures of ``task`` for one held-out split (R2 is None below two rows, where
    it is undefined)."""
    metrics = sklearn_module("metrics")
    if task == "classification":
        return {
            "accuracy": float(metrics.accuracy_score(truth, predicted)),
            "f1_macro": float(metrics.f1_score(truth, predicted, average="macro", zero_division=0)),
            "f1_weighted": float(
                metrics.f1_score(truth, predicted, average="weighted", zero_division=0)
            ),
        }
    return {
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        "rmse": math.sqrt(float(metrics.mean_squared_error(truth, predicted))),
        "r2": float(metrics.r2_score(truth, predicted)) if len(truth) > 1 else None,
    }
