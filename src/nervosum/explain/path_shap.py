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
The products without ``j`` come from prefix and suffix products, so a leaf costs about
``3 d ceil(d / 2)`` multiplications per row against TreeSHAP's ``d^2`` path updates with
divisions, and the loops run over a block of rows at once, which the compiler vectorizes.
The kernel releases the interpreter lock; blocks run on one thread per core.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import numba
import numpy as np

from nervosum.explain.tree_paths import LeafPaths

__all__ = ["path_shap"]

# Rows per kernel call: a leaf's prefix products for these rows stay in the core's cache.
BLOCK = 256
# Fewer rows than this per thread are not worth a thread: one row takes microseconds.
LEAST_ROWS_A_THREAD = 16

Span = tuple[int, int, int, int]
Rule = tuple[np.ndarray, np.ndarray]
Buffers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Arrays = tuple[np.ndarray, ...]


def path_shap(paths: LeafPaths, rows: np.ndarray, features: int, threads: int = 1) -> np.ndarray:
    """Contributions ``(rows, features, outputs)`` of the model's output for ``rows``
    (columns in the model's order), on up to ``threads`` threads."""
    # scikit-learn's trees compare float32 copies of the rows with their thresholds
    columns = np.asarray(rows, dtype=np.float32).astype(np.float64)
    outputs = paths.values.shape[1]
    out = np.zeros((len(columns), features, outputs))
    rule = _quadrature((paths.most_slots + 1) // 2)
    threads = max(1, min(threads, len(columns) // LEAST_ROWS_A_THREAD))
    size = min(BLOCK, -(-len(columns) // threads)) or 1
    blocks = [slice(start, start + size) for start in range(0, len(columns), size)]

    most, points = max(1, paths.most_slots), rule[0].shape[1]

    def run(block: slice) -> None:
        width = len(columns[block])
        buffers = (
            np.zeros((most, width), dtype=np.bool_),
            np.ones((most + 1, points, width)),  # row 0 stays 1: the empty product
            np.empty((points, width)),
            np.empty(width),
        )
        part = np.zeros((features, outputs, width))
        _accumulate(np.ascontiguousarray(columns[block].T), tuple(paths), rule, buffers, part)
        out[block] = part.transpose(2, 0, 1)

    if threads == 1:
        for block in blocks:
            run(block)
        return out
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(run, block) for block in blocks]:
            done.result()
    return out


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
    installation compiles it in each process instead). Compiled functions call each
    other without the interpreter."""
    options: dict[str, Any] = {"nogil": True, "error_model": "numpy"}
    try:
        return cast(F, numba.njit(cache=True, **options)(function))
    except RuntimeError:  # no writable cache directory
        return cast(F, numba.njit(**options)(function))


# The kernel's pieces are compiled separately and inlined by numba into _accumulate.
# ``paths`` is a LeafPaths as a plain tuple, read at these positions: numba's disk cache
# pickles the argument types, and a class's would tie the cache to its module's name.
# A leaf's ``span`` is (leaf, first slot, slots kept from the previous leaf, slots);
# ``buffers`` are (passes, prefix, suffix, share), each with a column per row.
_AT = {name: index for index, name in enumerate(LeafPaths._fields)}
STARTS, REUSED, FEATURE = _AT["starts"], _AT["reused"], _AT["feature"]
LOW, HIGH, MISSING, COVER, VALUES = (_AT[n] for n in ("low", "high", "missing", "cover", "values"))


@_compiled
def _accumulate(
    columns: np.ndarray, paths: Arrays, rule: Rule, buffers: Buffers, out: np.ndarray
) -> None:
    """Add every leaf's attributions for the block's rows (``columns``: features by rows)
    to ``out`` (features by outputs by rows). See the module's formula."""
    starts = paths[STARTS]
    for leaf in range(starts.shape[0] - 1):
        count = starts[leaf + 1] - starts[leaf]
        if count:  # a tree of one leaf has no slot: no feature changes its output
            span = (leaf, starts[leaf], paths[REUSED][leaf], count)
            _test(columns, paths, span, buffers[0])
            _extend(paths, span, rule, buffers)
            _attribute(paths, span, rule, buffers, out)


@_compiled
def _test(columns: np.ndarray, paths: Arrays, span: Span, passes: np.ndarray) -> None:
    """Whether each row passes each new slot's tests."""
    _, first, kept, count = span
    for j in range(kept, count):
        slot = first + j
        column = columns[paths[FEATURE][slot]]
        low, high, nan_passes = paths[LOW][slot], paths[HIGH][slot], paths[MISSING][slot]
        for r in range(column.shape[0]):
            x = column[r]
            passes[j, r] = (low < x <= high) or (nan_passes and np.isnan(x))


@_compiled
def _extend(paths: Arrays, span: Span, rule: Rule, buffers: Buffers) -> None:
    """The running products of the slots' factors ``b + (a - b) t`` at each point."""
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
def _attribute(paths: Arrays, span: Span, rule: Rule, buffers: Buffers, out: np.ndarray) -> None:
    """Each slot's integral of the other slots' product, times ``a - b`` and the leaf's
    value, added to its feature; the suffix products are built on the way back."""
    leaf, first, _, count = span
    passes, prefix, suffix, share = buffers
    nodes, weights = rule
    points = (count + 1) // 2
    suffix[:points, :] = 1.0
    for j in range(count - 1, -1, -1):
        b = paths[COVER][first + j]
        share[:] = 0.0
        for k in range(points):
            t, w = nodes[points, k], weights[points, k]
            hit, miss = b + (1.0 - b) * t, b * (1.0 - t)
            for r in range(share.shape[0]):
                share[r] += w * prefix[j, k, r] * suffix[k, r]
                suffix[k, r] *= hit if passes[j, r] else miss
        for r in range(share.shape[0]):
            share[r] *= (1.0 - b) if passes[j, r] else -b
        target = out[paths[FEATURE][first + j]]
        values = paths[VALUES]
        for q in range(values.shape[1]):
            value = values[leaf, q]
            for r in range(share.shape[0]):
                target[q, r] += share[r] * value
