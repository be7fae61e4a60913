"""A scikit-learn tree ensemble read once into the root-to-leaf paths TreeSHAP sums over.

Path-dependent TreeSHAP needs, for each leaf and each feature its path tests, two facts:
whether a row passes every test of that feature on the path, and the share of the
training cover that passes them (the product of the cover ratios of those edges). A
feature tested twice on one path is one *slot*: the interval ``(low, high]`` its tests
leave open, so a row's pass is two comparisons however often the feature repeats.

Slots are ordered by the depth of their feature's last test, so the next leaf in
depth-first order (a sibling or a cousin) starts with the same slots as the one before;
``reused`` counts them and the kernel (explain/path_shap.py) keeps their products
instead of computing them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["LeafPaths", "sklearn_paths"]

# (feature, low, high, missing value passes, cover share), one per feature a path tests
_Slot = tuple[int, float, float, bool, float]


class LeafPaths(NamedTuple):
    """Every leaf of an ensemble, its value scaled to the ensemble's output (a named
    tuple of arrays, which compiled code takes as it is)."""

    starts: np.ndarray
    """int64 ``(leaves + 1,)``: leaf ``l``'s slots are ``starts[l]:starts[l + 1]``."""
    reused: np.ndarray
    """int64 ``(leaves,)``: leading slots equal to the previous leaf's, with as many
    quadrature points (both leaves test as many features, give or take one)."""
    feature: np.ndarray
    """int64 ``(slots,)``: the column the slot tests, in the model's order."""
    low: np.ndarray
    """float64 ``(slots,)``: a row passes when ``low < x <= high``."""
    high: np.ndarray
    missing: np.ndarray
    """bool ``(slots,)``: a missing value (NaN) passes, as the trees route it."""
    cover: np.ndarray
    """float64 ``(slots,)``: the share of the training cover that passes the slot's tests."""
    values: np.ndarray
    """float64 ``(leaves, outputs)``: what the leaf adds to the ensemble's output."""

    @property
    def base(self) -> np.ndarray:
        """The expected output, ``(outputs,)``: each leaf weighted by its path's cover."""
        weights = np.ones(len(self.values))
        tested = np.flatnonzero(np.diff(self.starts) > 0)
        if len(tested):
            weights[tested] = np.multiply.reduceat(self.cover, self.starts[tested])
        return np.asarray(weights @ self.values, dtype=np.float64)

    @property
    def most_slots(self) -> int:
        """The most features one path tests: the kernel's scratch size."""
        return int(np.diff(self.starts).max(initial=0))


def sklearn_paths(trees: Sequence[Any], *, probabilities: bool) -> LeafPaths:
    """The leaves of scikit-learn decision trees whose outputs are averaged (a forest,
    or one tree): class probabilities when ``probabilities``, else the value."""
    scale = 1.0 / len(trees)
    slots: list[_Slot] = []
    starts = [0]
    reused: list[int] = []
    values: list[np.ndarray] = []
    previous: list[_Slot] = []
    for tree in trees:
        for path, value in _leaves(tree.tree_, probabilities):
            reused.append(_shared_prefix(previous, path))
            slots.extend(path)
            starts.append(len(slots))
            values.append(value * scale)
            previous = path
    columns: list[tuple[Any, ...]] = list(zip(*slots, strict=True)) or [()] * 5
    return LeafPaths(
        starts=np.asarray(starts, dtype=np.int64),
        reused=np.asarray(reused, dtype=np.int64),
        feature=np.asarray(columns[0], dtype=np.int64),
        low=np.asarray(columns[1], dtype=np.float64),
        high=np.asarray(columns[2], dtype=np.float64),
        missing=np.asarray(columns[3], dtype=bool),
        cover=np.asarray(columns[4], dtype=np.float64),
        values=np.asarray(values, dtype=np.float64),
    )


def _leaves(tree: Any, probabilities: bool) -> list[tuple[list[_Slot], np.ndarray]]:
    """Each leaf's slots and value, depth first, left before right."""
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    cover = tree.weighted_n_node_samples
    # scikit-learn >= 1.3 records where a missing value goes at each split
    nan_left = getattr(tree, "missing_go_to_left", None)
    found: list[tuple[list[_Slot], np.ndarray]] = []
    stack: list[tuple[int, dict[int, _Slot]]] = [(0, {})]
    while stack:
        node, path = stack.pop()
        if left[node] == right[node]:  # a leaf: both children are -1
            found.append((list(path.values()), _leaf_value(tree.value[node], probabilities)))
            continue
        column = int(feature[node])
        cut = float(threshold[node])
        default: _Slot = (column, -np.inf, np.inf, True, 1.0)
        _, low, high, nan_passes, share = path.get(column, default)
        goes_left = bool(nan_left[node]) if nan_left is not None else False
        # pushed right first, so the left child comes out first
        for child, child_low, child_high, child_nan in (
            (right[node], max(low, cut), high, nan_passes and not goes_left),
            (left[node], low, min(high, cut), nan_passes and goes_left),
        ):
            ratio = cover[child] / cover[node] if cover[node] > 0 else 0.0
            below = {k: v for k, v in path.items() if k != column}
            below[column] = (column, child_low, child_high, child_nan, share * ratio)
            stack.append((int(child), below))
    return found


def _leaf_value(value: np.ndarray, probabilities: bool) -> np.ndarray:
    """A leaf's output: its class shares (normalised: older scikit-learn keeps counts),
    or its one value."""
    row: np.ndarray = np.asarray(value, dtype=np.float64)[0]
    if not probabilities:
        return row[:1]
    total = float(row.sum())
    return row / total if total > 0 else row


def _shared_prefix(previous: list[_Slot], path: list[_Slot]) -> int:
    """Leading slots the kernel may keep from the previous leaf: equal slots, and only
    when both leaves integrate over as many points (ceil(slots / 2))."""
    if (len(previous) + 1) // 2 != (len(path) + 1) // 2:
        return 0
    shared = 0
    for before, now in zip(previous, path, strict=False):
        if before != now:
            break
        shared += 1
    return shared
