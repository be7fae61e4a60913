"""A scikit-learn Pipeline whose steps before a tree model only rescale each feature.

Such a pipeline is explained exactly on its trees with the rescaled rows: a strictly
increasing per-feature map sends each split to one split on the original feature, so the
trees' attributions are the pipeline's own. Any other pipeline is sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from nervosum.explain.exact import is_sklearn

__all__ = ["unwrap_rescaling"]

_RESCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")

Prepare = Callable[[np.ndarray], np.ndarray]


def unwrap_rescaling(model: Any) -> tuple[Any, Prepare | None] | None:
    """The model to explain and what to apply to the rows first (None: nothing), or None
    when a pipeline's earlier steps do more than rescale each feature in place."""
    if not is_sklearn(model, ("Pipeline",)):
        return model, None
    steps = [step for _, step in model.steps]
    before = steps[:-1]
    if not all(step in (None, "passthrough") or is_sklearn(step, _RESCALERS) for step in before):
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
