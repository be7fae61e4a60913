"""A scikit-learn tree ensemble read once into the root-to-leaf paths TreeSHAP sums over.

Path-dependent TreeSHAP needs, for each leaf and each feature its path tests, two facts:
whether a row passes every test of that feature on the path, and the share of the
training cover that passes them (the product of the cover ratios of those edges). A
feature tested twice on one path is one *slot*: the interval ``(low, high]`` its tests
leave open, so a row's pass is two comparisons however often the feature repeats.

Slots are ordered by the depth of their feature's last test, so the next leaf (a
sibling or a cousin: leaves come in node order, which is depth-first for trees grown
depth first, scikit-learn's default) starts with the same slots as the one before;
``reused`` counts them and the kernel (explain/path_shap.py) keeps their products
instead of computing them again. Trees grown best first (``max_leaf_nodes``) number
their nodes otherwise: fewer slots are kept, and the answers are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["LeafPaths", "boosting_paths", "path_length", "sklearn_paths"]

# A tree's slots, column by column: feature, low, high, missing passes, cover share.
_Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class LeafPaths(NamedTuple):
    """Every leaf of an ensemble, its value scaled to the ensemble's output (a named
    tuple of arrays, which compiled code takes as it is)."""

    starts: np.ndarray
    """int64 ``(leaves + 1,)``: leaf ``l``'s slots are ``starts[l]:starts[l + 1]``."""
    reused: np.ndarray
    """int64 ``(leaves,)``: leading slots equal to the previous leaf's, with as many
    quadrature points (both leaves test as many features, give or take one)."""
    paired: np.ndarray
    """bool ``(leaves,)``: the leaf and the next one differ in their last slot only (two
    siblings, usually), and the next one is not paired with the one after."""
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
    parts = [_tree_paths(tree.tree_, probabilities) for tree in trees]
    return _joined(parts, [part[2] / len(trees) for part in parts])


def boosting_paths(stages: np.ndarray, learning_rate: float) -> LeafPaths:
    """The leaves of scikit-learn gradient boosting's regression trees: ``stages`` holds
    one row of trees per round, one tree per margin column (one for a regressor or a
    binary classifier, one per class otherwise), and each leaf adds ``learning_rate``
    times its value to its column's margin."""
    width = stages.shape[1]
    parts, values = [], []
    for stage in stages:
        for column, tree in enumerate(stage):
            part = _tree_paths(tree.tree_, probabilities=False)
            spread = np.zeros((len(part[2]), width))
            spread[:, column] = learning_rate * part[2][:, 0]
            parts.append(part)
            values.append(spread)
    return _joined(parts, values)


def _joined(
    parts: list[tuple[np.ndarray, _Columns, np.ndarray]], values: list[np.ndarray]
) -> LeafPaths:
    """The trees' leaves one after the other, each leaf's value as given."""
    counts = np.concatenate([part[0] for part in parts])
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    slots = [np.concatenate([part[1][i] for part in parts]) for i in range(5)]
    parts.clear()  # the trees' own copies go before the comparisons below
    feature, low, high, missing, cover = slots
    reused = _reused(starts, slots)
    return LeafPaths(
        starts=starts,
        reused=reused,
        paired=_paired(starts, reused),
        feature=feature.astype(np.int64, copy=False),
        low=low.astype(np.float64, copy=False),
        high=high.astype(np.float64, copy=False),
        missing=missing.astype(bool, copy=False),
        cover=cover.astype(np.float64, copy=False),
        values=np.concatenate(values),
    )


def path_length(trees: Sequence[Any]) -> int:
    """Every leaf's depth, summed over the trees: the edges :func:`sklearn_paths` reads
    and the most slots it can make, known before reading them (level by level)."""
    total = 0
    for estimator in trees:
        left, right = estimator.tree_.children_left, estimator.tree_.children_right
        level, depth = np.zeros(1, dtype=np.int64), 0
        while len(level):
            total += depth * int((left[level] == -1).sum())
            inner = level[left[level] != -1]
            level, depth = np.concatenate([left[inner], right[inner]]), depth + 1
    return total


def _tree_paths(tree: Any, probabilities: bool) -> tuple[np.ndarray, _Columns, np.ndarray]:
    """One tree's slots per leaf (leaves in node order), the slots' columns (feature,
    low, high, missing passes, cover share) and the leaves' values.

    Every edge from a leaf up to the root is one row: the node tested, whether the path
    turns left there, and how far from the leaf (0: the leaf's own parent). Rows of one
    leaf and feature fold into one slot: the tightest bounds, the product of the cover
    ratios, a missing value passing only if every test sends it this way. Slots are
    then ordered by how deep their feature's last test is (see the module docstring).
    """
    left, right = tree.children_left, tree.children_right
    internal = np.flatnonzero(left != -1)
    parent = np.full(tree.node_count, -1, dtype=np.int64)
    parent[left[internal]] = internal
    parent[right[internal]] = internal
    went_left = np.zeros(tree.node_count, dtype=bool)
    went_left[left[internal]] = True
    leaves = np.flatnonzero(left == -1)
    owner, child, up = [], [], []
    below, at = np.arange(len(leaves)), leaves
    for distance in range(tree.node_count):
        above = parent[at]
        alive = above >= 0
        if not alive.any():
            break
        below, at = below[alive], at[alive]
        owner.append(below)
        child.append(at)
        up.append(np.full(len(at), distance))
        at = above[alive]
    values = _leaf_values(tree.value[leaves], probabilities)
    if not owner:  # a tree of one leaf: nothing tested
        return np.zeros(1, dtype=np.int64), _empty(), values
    leaf, node_child, distance_up = np.concatenate(owner), np.concatenate(child), np.concatenate(up)
    node = parent[node_child]
    turned_left = went_left[node_child]
    feature = tree.feature[node].astype(np.int64)
    cut = tree.threshold[node]
    cover = tree.weighted_n_node_samples
    ratio = np.divide(
        cover[node_child], cover[node], out=np.zeros(len(node)), where=cover[node] > 0
    )
    # scikit-learn >= 1.3 records where a missing value goes at each split
    nan_left = getattr(tree, "missing_go_to_left", None)
    nan_passes = (
        np.asarray(nan_left, dtype=bool)[node] == turned_left
        if nan_left is not None
        else np.zeros(len(node), dtype=bool)
    )
    key = leaf * tree.n_features + feature
    order = np.argsort(key, kind="stable")
    key, first = np.unique(key[order], return_index=True)
    lows = np.maximum.reduceat(np.where(turned_left, -np.inf, cut)[order], first)
    highs = np.minimum.reduceat(np.where(turned_left, cut, np.inf)[order], first)
    shares = np.multiply.reduceat(ratio[order], first)
    passes = np.logical_and.reduceat(nan_passes[order], first)
    last = np.minimum.reduceat(distance_up[order], first)  # the deepest test: nearest the leaf
    slot_leaf = key // tree.n_features
    ranked = np.lexsort((-last, slot_leaf))  # per leaf, the deepest last test last
    columns: _Columns = (
        (key % tree.n_features)[ranked],
        lows[ranked],
        highs[ranked],
        passes[ranked],
        shares[ranked],
    )
    return np.bincount(slot_leaf, minlength=len(leaves)), columns, values


def _empty() -> _Columns:
    return (np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, bool), np.empty(0))


def _leaf_values(value: np.ndarray, probabilities: bool) -> np.ndarray:
    """The leaves' outputs: their class shares (normalised: older scikit-learn keeps
    counts), or their one value."""
    rows: np.ndarray = np.asarray(value, dtype=np.float64)[:, 0, :]
    if not probabilities:
        return rows[:, :1]
    totals = rows.sum(axis=1, keepdims=True)
    shares: np.ndarray = np.divide(rows, totals, out=rows.copy(), where=totals > 0)
    return shares


def _paired(starts: np.ndarray, reused: np.ndarray) -> np.ndarray:
    """Which leaves start a pair with the next: as many slots, all but the last shared;
    along a run of such leaves, every other one (a leaf is in one pair at most)."""
    counts = np.diff(starts)
    joins = np.zeros(len(counts), dtype=bool)
    joins[:-1] = (counts[:-1] > 0) & (counts[1:] == counts[:-1]) & (reused[1:] >= counts[1:] - 1)
    index = np.arange(len(joins))
    run_start = np.maximum.accumulate(np.where(joins, 0, index + 1))
    first: np.ndarray = joins & ((index - run_start) % 2 == 0)
    return first


def _reused(starts: np.ndarray, slots: list[np.ndarray]) -> np.ndarray:
    """Per leaf, the leading slots equal to the previous leaf's, where both leaves
    integrate over as many points (ceil(slots / 2)); 0 for the first leaf."""
    counts = np.diff(starts)
    reused = np.zeros(len(counts), dtype=np.int64)
    points = (counts + 1) // 2
    pairs = np.minimum(counts[1:], counts[:-1])
    pairs[points[1:] != points[:-1]] = 0
    if not pairs.sum():
        return reused
    leaf = np.repeat(np.arange(1, len(counts)), pairs)
    position = np.arange(len(leaf)) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    now, before = starts[leaf] + position, starts[leaf - 1] + position
    same = np.logical_and.reduce([column[now] == column[before] for column in slots])
    # each leaf's first differing position, or its whole overlap when none differs
    overlaps = pairs[pairs > 0]
    first = np.where(same, np.repeat(overlaps, overlaps), position)
    segments = np.cumsum(overlaps) - overlaps
    reused[np.flatnonzero(pairs) + 1] = np.minimum.reduceat(first, segments)
    return reused
