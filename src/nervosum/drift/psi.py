"""The population stability index and the bins it is computed over.

``PSI = sum((live - ref) * ln(live / ref))`` over the bins' shares. Numeric values are
binned at the reference's deciles, others by the reference's categories (the
:data:`TOP_CATEGORIES` most common, the rest as one ``(other)`` bin). Below 0.1 is read
as no drift, up to 0.25 as moderate, above as major: the usual thresholds. One module
holds these definitions so ``nervosum evaluate`` (offline, from the prediction log) and
a server's live window (:mod:`nervosum.drift.window`) always agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"
FLOOR = 1e-4  # a share of 0 would make the logarithm infinite


def psi(reference: np.ndarray, live: np.ndarray) -> float:
    """PSI of two share vectors over the same bins."""
    ref = np.maximum(reference, FLOOR)
    now = np.maximum(live, FLOOR)
    return float(np.sum((now - ref) * np.log(now / ref)))


def level(value: float) -> str:
    if value < 0.1:
        return "none"
    return "moderate" if value < 0.25 else "major"


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def is_numeric(column: pd.Series) -> bool:
    """Binned at deciles (numbers) rather than by category (text, booleans)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def decile_edges(reference: pd.Series) -> np.ndarray:
    """The reference's distinct deciles, its minimum and maximum included; for a column
    of at most ``BINS`` distinct values (a flag, a small count) the midpoints between
    them instead, so each value is a bin of its own: the deciles of a 0/1 column are
    0 and 1, one bin, and no shift of it would ever show."""
    values = reference.dropna().to_numpy(dtype=float)
    distinct = np.unique(values)
    if len(distinct) <= BINS:
        middles = (distinct[:-1] + distinct[1:]) / 2
        return np.concatenate([distinct[:1], middles, distinct[-1:]])
    return np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)))


def numeric_bins(inner_edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's bin between ``inner_edges`` (a value on an edge goes above it)."""
    return np.searchsorted(inner_edges, values, side="right")


def numeric_counts(inner_edges: np.ndarray, values: pd.Series) -> np.ndarray:
    positions = numeric_bins(inner_edges, values.dropna().to_numpy(dtype=float))
    return np.bincount(positions, minlength=len(inner_edges) + 1)


def top_categories(reference: pd.Series) -> list[str]:
    """The reference's most common values, as text, most common first."""
    return [str(c) for c in reference.dropna().astype(str).value_counts().index[:TOP_CATEGORIES]]


def category_bins(top: list[str], values: pd.Series) -> np.ndarray:
    """Each (non-missing) value's bin: its place in ``top``, else the ``(other)`` bin."""
    codes = pd.Index(top).get_indexer(pd.Index(values.astype(str)))
    codes[codes < 0] = len(top)
    return codes


def category_counts(top: list[str], values: pd.Series) -> np.ndarray:
    return np.bincount(category_bins(top, values.dropna()), minlength=len(top) + 1)
