"""A sampled Shapley estimate for any model: permutations over a background set.

For one permutation of the features, a row's features are switched on one at a time, in
that order, on top of each background row; each feature is credited with the change in
the model's output its switch made, averaged over the background. The credits telescope:
whatever permutations were drawn, they add up to ``f(row) - mean f(background)``
exactly, so ``base + values.sum(axis=1)`` is the model's output (to rounding) and only
the split between features is an estimate. Permutations alternate with their reverses
(antithetic sampling), which cancels much of the variance; a model additive in its
features gets its exact Shapley values from any single permutation.

numpy builds the masked rows and the model does the work in one call per block of rows,
so the cost is the model's: ``(features - 1) * background`` evaluations per row and
permutation. The time budget bounds a call: the background is cut down to fit the
first permutation, and further permutations are drawn only while the last one's time
still fits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nervosum.errors import ModelDefinitionError, ModelOutputError, new_error_id
from nervosum.explain.attributions import Attributions, check_rows

__all__ = ["PermutationExplainer"]

Predict = Callable[[np.ndarray], np.ndarray]

# Masked rows handed to the model at once: bounds the memory one call builds.
_BLOCK = 65_536


@dataclass
class PermutationExplainer:
    """Sampled attributions over ``background`` rows, in the space ``predict`` answers in."""

    predict: Predict
    features: tuple[str, ...]
    background: np.ndarray
    output: str
    outputs: tuple[str, ...] | None
    """The classes, one per column ``predict`` answers; None: ``("value",)``, or
    ``value_<i>`` for several columns."""
    time_budget: float = 1.0
    permutations: int = 16
    """At most this many per call: past a few antithetic pairs the estimate moves little,
    and a call should not spend its whole budget when it need not."""
    seed: int = 0
    method: str = "sampled:permutation"
    exact: bool = False
    _reference: np.ndarray | None = field(default=None, init=False, repr=False)
    _row_cost: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        background = np.asarray(self.background, dtype=np.float64)
        if background.ndim != 2 or background.shape[1] != len(self.features) or not len(background):
            raise ModelDefinitionError(
                f"the background set has shape {background.shape}, explaining needs rows of"
                f" {len(self.features)} features",
                hint="monitoring.background: a file of rows with the model's input features",
            )
        # A fixed shuffle: any cut to fit the budget is then a fair sample, the same each call.
        self.background = background[np.random.default_rng(self.seed).permutation(len(background))]

    def _outputs(self, rows: np.ndarray) -> np.ndarray:
        """The model's answer as (rows, outputs) float64, or a clear error."""
        found = np.asarray(self.predict(rows), dtype=np.float64)
        if found.ndim == 1:
            found = found[:, None]
        if found.ndim != 2 or found.shape[0] != len(rows):
            raise ModelOutputError(
                f"explaining needs one output row per input row, the model answered shape"
                f" {found.shape} for {len(rows)} rows",
                error_id=new_error_id(),
            )
        return found

    def _background_outputs(self) -> np.ndarray:
        """f(background), computed once; its timing prices one model evaluation."""
        if self._reference is None:
            start = time.perf_counter()
            self._reference = self._outputs(self.background)
            self._row_cost = (time.perf_counter() - start) / len(self.background)
        return self._reference

    def explain(self, rows: np.ndarray) -> Attributions:
        start = time.perf_counter()
        array = check_rows(rows, self.features)
        reference = self._background_outputs()
        width = len(self.features)
        steps = max(width - 1, 1)
        own = self._outputs(array) if len(array) else np.empty((0, reference.shape[1]))
        left = self.time_budget - (time.perf_counter() - start)
        kept = int(left / max(self._row_cost * len(array) * steps, 1e-12))
        kept = min(len(self.background), max(kept, 1))
        background = self.background[:kept]
        base = reference[:kept].mean(axis=0)
        rng = np.random.default_rng(self.seed)
        total = np.zeros((len(array), width, reference.shape[1]))
        drawn = 0
        order = rng.permutation(width)
        while drawn < self.permutations:
            began = time.perf_counter()
            total += self._credit(array, background, reference[:kept], own, order)
            drawn += 1
            # Antithetic pairs: the reverse next, then a fresh draw.
            order = order[::-1] if drawn % 2 else rng.permutation(width)
            spent = time.perf_counter() - began
            if time.perf_counter() - start + spent > self.time_budget:
                break
        return Attributions(
            method=self.method,
            exact=False,
            output=self.output,
            outputs=self._names(reference.shape[1]),
            base=base,
            values=total / drawn,
            samples=drawn * (width - 1) * kept + 1,
        )

    def _credit(
        self,
        rows: np.ndarray,
        background: np.ndarray,
        reference: np.ndarray,
        own: np.ndarray,
        order: np.ndarray,
    ) -> np.ndarray:
        """One permutation's credits: (rows, features, outputs)."""
        width = len(self.features)
        # switched[k]: which features come from the row after k+1 switches (k < width - 1);
        # none switched is the background itself, all switched is the row.
        ranks = np.empty(width, dtype=np.int64)
        ranks[order] = np.arange(width)
        switched = ranks[None, :] <= np.arange(width - 1)[:, None]
        credits = np.empty((len(rows), width, reference.shape[1]))
        per_row = (width - 1) * len(background)
        block = max(1, _BLOCK // max(per_row, 1))
        for first in range(0, len(rows), block):
            chunk = rows[first : first + block]
            masked = np.where(
                switched[None, :, None, :], chunk[:, None, None, :], background[None, None, :, :]
            )
            if per_row:
                found = self._outputs(masked.reshape(-1, width))
                middle = found.reshape(len(chunk), width - 1, len(background), -1).mean(axis=2)
            else:
                middle = np.empty((len(chunk), 0, reference.shape[1]))
            path = np.concatenate(
                [
                    np.broadcast_to(reference.mean(axis=0), (len(chunk), 1, reference.shape[1])),
                    middle,
                    own[first : first + block, None, :],
                ],
                axis=1,
            )
            credits[first : first + block][:, order, :] = np.diff(path, axis=1)
        return credits

    def _names(self, count: int) -> tuple[str, ...]:
        if self.outputs is None:
            return ("value",) if count == 1 else tuple(f"value_{i}" for i in range(count))
        if len(self.outputs) != count:
            raise ModelOutputError(
                f"explaining needs one output column per class ({len(self.outputs)}),"
                f" the model answered {count}",
                error_id=new_error_id(),
            )
        return self.outputs
