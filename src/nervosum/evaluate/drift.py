"""Input drift per feature: the logged inputs against a reference file (the training data).

The population stability index compares two distributions over the same bins:
``PSI = sum((live - ref) * ln(live / ref))`` over the bins' shares. Numeric features are
binned at the reference's deciles, others by the reference's categories (the 20 most
common, the rest as one). Below 0.1 is read as no drift, up to 0.25 as moderate, above
as major: the usual thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config.types import Record
from nervosum.errors import RequestError

BINS = 10
TOP_CATEGORIES = 20
_FLOOR = 1e-4  # a share of 0 would make the logarithm infinite


def read_reference(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise RequestError(f"no reference file at {path}", hint="--reference train.csv")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def psi(reference: np.ndarray, live: np.ndarray) -> float:
    """PSI of two share vectors over the same bins."""
    ref = np.maximum(reference, _FLOOR)
    now = np.maximum(live, _FLOOR)
    return float(np.sum((now - ref) * np.log(now / ref)))


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(float)


def _binned(inner_edges: np.ndarray, values: pd.Series) -> np.ndarray:
    positions = np.searchsorted(inner_edges, values.dropna(), side="right")
    return np.bincount(positions, minlength=len(inner_edges) + 1)


def _numeric(reference: pd.Series, live: pd.Series) -> tuple[float, list[Record]]:
    edges = np.unique(np.quantile(reference.dropna(), np.linspace(0, 1, BINS + 1)))
    inner = edges[1:-1]
    ref = _shares(_binned(inner, reference))
    now = _shares(_binned(inner, live))
    bounds = [float(edges[0]), *map(float, inner), float(edges[-1])]
    bins = [
        {"bin": f"{bounds[i]:.4g}..{bounds[i + 1]:.4g}", "reference": r, "live": n}
        for i, (r, n) in enumerate(zip(ref.tolist(), now.tolist(), strict=True))
    ]
    return psi(ref, now), bins


def _categorical(reference: pd.Series, live: pd.Series) -> tuple[float, list[Record]]:
    top = reference.astype(str).value_counts().index[:TOP_CATEGORIES].tolist()

    def counts(values: pd.Series) -> np.ndarray:
        text = values.dropna().astype(str)
        known = [int((text == c).sum()) for c in top]
        return np.array([*known, int((~text.isin(top)).sum())])

    ref, now = _shares(counts(reference)), _shares(counts(live))
    names = [*top, "(other)"]
    bins = [
        {"bin": name, "reference": r, "live": n}
        for name, r, n in zip(names, ref.tolist(), now.tolist(), strict=True)
    ]
    return psi(ref, now), bins


def level(value: float) -> str:
    if value < 0.1:
        return "none"
    return "moderate" if value < 0.25 else "major"


def input_drift(reference: pd.DataFrame, inputs: Sequence[dict[str, Any]]) -> list[Record]:
    """PSI and bins for every feature both the reference and the logged inputs have."""
    live = pd.DataFrame(list(inputs))
    report = []
    for name in [c for c in reference.columns if c in live.columns]:
        ref_column, live_column = reference[name], live[name]
        numeric = pd.api.types.is_numeric_dtype(ref_column) and not pd.api.types.is_bool_dtype(
            ref_column
        )
        if numeric:
            live_column = pd.to_numeric(live_column, errors="coerce")
            value, bins = _numeric(ref_column, live_column)
        else:
            value, bins = _categorical(ref_column, live_column)
        report.append(
            {
                "feature": name,
                "psi": value,
                "level": level(value),
                "kind": "numeric" if numeric else "categorical",
                "bins": bins,
            }
        )
    return report
