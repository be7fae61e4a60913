"""Exact path-dependent TreeSHAP over an ensemble's leaf paths, compiled with numba.

For a leaf ``l`` with value ``v_l`` whose path tests the features ``F_l`` (``d`` of
them), a row passes feature ``j``'s tests or not (``a_j`` is 1 or 0), and ``b_j`` is the
share of the training cover that passes them (explain/tree_paths.py). The leaf's value
function is a product over its features, and the Shapley weights
``|S|! (d - |S| - 1)! / d!`` are the integrals of ``t^|S| (1 - t)^(d - |S| - 1)`` over
``[0, 1]``, so each feature's attribution is one integral:

    phi_i = sum over leaves testing i of
            v_l (a_i - b_i) * integral_0^1 prod_{j != i} (b_j + (a_j - b_j) t) dt

The integrand is a polynomial of degree ``d - 1``, which Gauss-Legendre quadrature with
``ceil(d / 2)`` points integrates exactly (the idea of Linear TreeSHAP, Yu et al. 2022).
The products without ``j`` come from prefix products and a running product from the
end, so a leaf costs about ``3 d ceil(d / 2)`` multiplications per row against
TreeSHAP's ``d^2`` path updates with divisions, and the loops run over a block of rows
at once, which the compiler vectorizes.

Two sibling leaves differ in their last slot only (tree_paths.py orders slots so): for
the slots they share, the integrand is the shared product times
``v_1 c_1(t) + v_2 c_2(t)`` (``c``: each last slot's factor), so a pair is one pass over
its shared slots, with that sum as the value. When every leaf's outputs add up to the
same total (a classifier's probabilities), the last output's attributions are minus the
others' sum, and are not computed. The kernel releases the interpreter lock; blocks of
rows run on the threads the caller allows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import numba
import numpy as np

from nervosum.explain.tree_paths import LeafPaths

__all__ = ["PathKernel"]

# Rows per kernel call: a leaf's prefix products for these rows stay in the core's cache.
BLOCK = 256
# Fewer rows than this per thread are not worth a thread: one row takes microseconds.
LEAST_ROWS_A_THREAD = 16

Span = tuple[int, int, int, int]
Rule = tuple[np.ndarray, np.ndarray]
# (passes, prefix, share, last factors, pair value), each with a column per row
Buffers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Arrays = tuple[np.ndarray, ...]


class PathKernel:
    """An ensemble's leaf paths made ready for the kernel once: each call then only
    splits the rows over the threads."""

    def __init__(self, paths: LeafPaths, features: int, threads: int = 1) -> None:
        self.features = features
        self.threads = threads
        self.outputs = paths.values.shape[1]
        self.arrays, self.computed = _computed_outputs(paths)
        self.rule = _quadrature((paths.most_slots + 1) // 2)
        self.most = max(1, paths.most_slots)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Contributions ``(rows, features, outputs)`` of the model's output for ``rows``
        (columns in the model's order), on up to ``threads`` threads."""
        # scikit-learn's trees compare float32 copies of the rows with their thresholds
        columns = np.asarray(rows, dtype=np.float32).astype(np.float64)
        out = np.zeros((len(columns), self.features, self.outputs))
        threads = max(1, min(self.threads, len(columns) // LEAST_ROWS_A_THREAD))
        size = min(BLOCK, -(-len(columns) // threads)) or 1
        blocks = [slice(start, start + size) for start in range(0, len(columns), size)]
        if threads == 1:
            for block in blocks:
                self._block(columns, block, out)
            return out
        with ThreadPoolExecutor(threads) as pool:
            for done in [pool.submit(self._block, columns, block, out) for block in blocks]:
                done.result()
        return out

    def _block(self, columns: np.ndarray, block: slice, out: np.ndarray) -> None:
        width, computed = len(columns[block]), self.computed
        points = self.rule[0].shape[1]
        buffers = (
            np.zeros((self.most, width), dtype=np.bool_),
            np.ones((self.most + 1, points, width)),  # row 0 stays 1: the empty product
            np.empty((computed, width)),
            np.empty((2, points, width)),
            np.empty((points, computed, width)),
        )
        part = np.zeros((self.features, computed, width))
        _accumulate(np.ascontiguousarray(columns[block].T), self.arrays, self.rule, buffers, part)
        out[block, :, :computed] = part.transpose(2, 0, 1)
        if computed < self.outputs:  # the outputs add up to one total: the last has the rest
            out[block, :, computed] = -part.sum(axis=1).T


def _computed_outputs(paths: LeafPaths) -> tuple[Arrays, int]:
    """The arrays the kernel reads, and how many outputs it computes: all but the last
    when every leaf's outputs add up to the same total (their attributions then add up
    to zero per feature, since a constant game has none)."""
    values = paths.values
    totals = values.sum(axis=1)
    if values.shape[1] < 2 or np.ptp(totals) > 1e-12 * max(1.0, float(np.abs(totals).max())):
        return tuple(paths), values.shape[1]
    fewer = paths._replace(values=np.ascontiguousarray(values[:, :-1]))
    return tuple(fewer), values.shape[1] - 1


def _quadrature(most: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on ``[0, 1]``: row ``m`` holds the ``m``-point rule."""
    nodes = np.zeros((most + 1, max(most, 1)))
    weights = np.zeros_like(nodes)
    for points in range(1, most + 1):
        x, w = np.polynomial.legendre.leggauss(points)
        nodes[points, :points] = (x + 1.0) / 2.0
        weights[points, :points] = w / 2.0
    return nodes, weights


F = TypeVar("F", bound=Callable[..., None])


def _compiled(function: F) -> F:
    """``function`` compiled by numba, cached on disk where numba may write (a read-only
    installation compiles it in each process instead). The kernel's pieces are inlined
    into it: calls passing tuples of arrays per leaf cost a sixth of its time."""
    options: dict[str, Any] = {"nogil": True, "error_model": "numpy", "inline": "always"}
    try:
        return cast(F, numba.njit(cache=True, **options)(function))
    except RuntimeError:  # no writable cache directory
        return cast(F, numba.njit(**options)(function))


# ``paths`` is a LeafPaths as a plain tuple, read at these positions: numba's disk cache
# pickles the argument types, and a class's would tie the cache to its module's name.
# A leaf's ``span`` is (leaf, first slot, slots kept from the previous leaf, slots).
_AT = {name: index for index, name in enumerate(LeafPaths._fields)}
STARTS, REUSED, PAIRED, FEATURE = (_AT[n] for n in ("starts", "reused", "paired", "feature"))
LOW, HIGH, MISSING, COVER, VALUES = (_AT[n] for n in ("low", "high", "missing", "cover", "values"))


@_compiled
def _test(columns: np.ndarray, paths: Arrays, span: Span, passes: np.ndarray) -> None:
    """Whether each row passes each new slot's tests (NaN only where it is routed)."""
    _, first, kept, count = span
    for j in range(kept, count):
        slot = first + j
        column = columns[paths[FEATURE][slot]]
        low, high, nan_passes = paths[LOW][slot], paths[HIGH][slot], paths[MISSING][slot]
        for r in range(column.shape[0]):
            x = column[r]
            passes[j, r] = ((low < x) & (x <= high)) | (nan_passes & np.isnan(x))


@_compiled
def _extend(paths: Arrays, span: Span, rule: Rule, buffers: Buffers) -> None:
    """The running products of the new slots' factors ``b + (a - b) t`` at each point."""
    _, first, kept, count = span
    passes, prefix = buffers[0], buffers[1]
    nodes = rule[0]
    points = (count + 1) // 2
    for j in range(kept, count):
        b = paths[COVER][first + j]
        for k in range(points):
            t = nodes[points, k]
            hit, miss = b + (1.0 - b) * t, b * (1.0 - t)
            for r in range(passes.shape[1]):
                prefix[j + 1, k, r] = prefix[j, k, r] * (hit if passes[j, r] else miss)


@_compiled
def _last(paths: Arrays, place: Span, rule: Rule, buffers: Buffers, out: np.ndarray) -> None:
    """A leaf's last slot (``place``: leaf, first slot, slots, member of its pair): its
    attribution, where the other slots' product is the prefix before it, and its value
    weighted by its factors into the pair's value (the first member sets it)."""
    leaf, first, count, member = place
    passes, prefix, share, factors, paired = buffers
    nodes, weights = rule
    points = (count + 1) // 2
    slot = first + count - 1
    b = paths[COVER][slot]
    share[0, :] = 0.0  # here: the integral of the other slots' product
    for k in range(points):
        t, w = nodes[points, k], weights[points, k]
        hit, miss = b + (1.0 - b) * t, b * (1.0 - t)
        for r in range(passes.shape[1]):
            share[0, r] += w * prefix[count - 1, k, r]
            factors[member, k, r] = hit if passes[count - 1, r] else miss
    target = out[paths[FEATURE][slot]]
    values = paths[VALUES]
    for q in range(values.shape[1]):
        value = values[leaf, q]
        for r in range(passes.shape[1]):
            gain = (1.0 - b) if passes[count - 1, r] else -b
            target[q, r] += value * gain * share[0, r]
        for k in range(points):
            if member == 0:
                for r in range(passes.shape[1]):
                    paired[k, q, r] = value * factors[member, k, r]
            else:
                for r in range(passes.shape[1]):
                    paired[k, q, r] += value * factors[member, k, r]


@_compiled
def _shared(paths: Arrays, span: Span, rule: Rule, buffers: Buffers, out: np.ndarray) -> None:
    """The attributions of the slots a leaf (or a pair) has before its last: each slot's
    integral of the others' product, the pair's value standing for the last slot and
    the leaves' values. Going back from the last slot, the pair's value (times the
    point's weight) is multiplied by each slot's factors once passed, so one product
    with the prefix before a slot is that slot's integrand."""
    _, first, _, count = span
    passes, prefix, share, _, running = buffers
    nodes, weights = rule
    points = (count + 1) // 2
    computed = share.shape[0]
    for k in range(points):
        w = weights[points, k]
        for q in range(computed):
            for r in range(share.shape[1]):
                running[k, q, r] *= w
    for j in range(count - 2, -1, -1):
        b = paths[COVER][first + j]
        share[:, :] = 0.0
        for k in range(points):
            t = nodes[points, k]
            hit, miss = b + (1.0 - b) * t, b * (1.0 - t)
            for q in range(computed):
                for r in range(share.shape[1]):
                    share[q, r] += prefix[j, k, r] * running[k, q, r]
                    running[k, q, r] *= hit if passes[j, r] else miss
        target = out[paths[FEATURE][first + j]]
        for q in range(computed):
            for r in range(share.shape[1]):
                gain = (1.0 - b) if passes[j, r] else -b
                target[q, r] += gain * share[q, r]


@_compiled
def _accumulate(
    columns: np.ndarray, paths: Arrays, rule: Rule, buffers: Buffers, out: np.ndarray
) -> None:
    """Add every leaf's attributions for the block's rows (``columns``: features by rows)
    to ``out`` (features by outputs by rows). See the module's formula."""
    starts, reused, paired = paths[STARTS], paths[REUSED], paths[PAIRED]
    leaf = 0
    while leaf < starts.shape[0] - 1:
        count = starts[leaf + 1] - starts[leaf]
        if not count:  # a tree of one leaf has no slot: no feature changes its output
            leaf += 1
            continue
        members = 2 if paired[leaf] else 1
        for member in range(members):
            # the second member shares all but its last slot with the first
            kept = reused[leaf] if member == 0 else count - 1
            span = (leaf + member, starts[leaf + member], kept, count)
            _test(columns, paths, span, buffers[0])
            _extend(paths, span, rule, buffers)
            _last(paths, (leaf + member, starts[leaf + member], count, member), rule, buffers, out)
        _shared(paths, (leaf, starts[leaf], 0, count), rule, buffers, out)
        leaf += members
