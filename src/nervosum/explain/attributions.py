"""What every explainer answers, whichever way it computed the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nervosum.errors import RequestError

__all__ = ["Attributions", "Explainer", "check_rows"]


@dataclass(frozen=True)
class Attributions:
    """Per-feature contributions for a block of rows.

    ``base + values.sum(axis=1)`` equals the model's output in ``output`` space for every
    row and output column; that additivity is what makes the numbers mean something, so
    each explainer states the space it holds in rather than converting (a margin's
    contributions do not convert to a probability's).
    """

    method: str
    """How they were computed: ``treeshap:nervosum``, ``treeshap:xgboost``,
    ``treeshap:lightgbm``, ``treeshap:shap`` (exact) or ``sampled:permutation`` (an
    estimate)."""
    exact: bool
    output: str
    """What the values add up to: ``probability``, ``log_odds``, ``value`` or ``raw``
    (a margin with another link, e.g. a multi-class softmax's inputs)."""
    outputs: tuple[str, ...]
    """The output columns: class names, or ``("value",)`` for one output."""
    base: np.ndarray
    """Shape ``(len(outputs),)``: the expected output the contributions start from."""
    values: np.ndarray
    """Shape ``(rows, features, len(outputs))``."""
    samples: int | None
    """For a sampled estimate, the model evaluations it made per row; None when exact."""


class Explainer(Protocol):
    """One model's attribution method, chosen once by :func:`explainer_for`."""

    method: str
    exact: bool

    def explain(self, rows: np.ndarray) -> Attributions:
        """Attributions for ``rows``: shape ``(n, features)``, columns in ``features`` order."""
        ...


def check_rows(rows: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """``rows`` as a 2-D float64 array with one column per feature.

    The batcher hands over what the client sent, so a wrong shape is the request's fault.
    """
    array = np.asarray(rows, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(features):
        raise RequestError(
            f"explaining needs rows of {len(features)} features, got shape {array.shape}",
            hint=f"send the model's features in order: {', '.join(features)}",
        )
    return array
