"""Input drift per feature: the logged inputs against a reference file (the training data).

The population stability index and its bins are :mod:`nervosum.drift.psi`'s, the ones a
server's live drift uses too (docs/monitoring.md), so both read the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nervosum.config.types import Record
from nervosum.drift.psi import (
    OTHER,
    category_counts,
    decile_edges,
    is_numeric,
    level,
    numeric_counts,
    psi,
    shares,
    top_categories,
)
from nervosum.errors import RequestError
from nervosum.schema.tables import read_table


def read_reference(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise RequestError(f"no reference file at {path}", hint="--reference train.csv")
    return read_table(path)


def _numeric(reference: pd.Series, live: pd.Series) -> tuple[float, list[Record]]:
    edges = decile_edges(reference)
    inner = edges[1:-1]
    ref = shares(numeric_counts(inner, reference))
    now = shares(numeric_counts(inner, live))
    bounds = [float(edges[0]), *map(float, inner), float(edges[-1])]
    bins = [
        {"bin": f"{bounds[i]:.4g}..{bounds[i + 1]:.4g}", "reference": r, "live": n}
        for i, (r, n) in enumerate(zip(ref.tolist(), now.tolist(), strict=True))
    ]
    return psi(ref, now), bins


def _categorical(reference: pd.Series, live: pd.Series) -> tuple[float, list[Record]]:
    top = top_categories(reference)
    ref, now = shares(category_counts(top, reference)), shares(category_counts(top, live))
    names = [*top, OTHER]
    bins = [
        {"bin": name, "reference": r, "live": n}
        for name, r, n in zip(names, ref.tolist(), now.tolist(), strict=True)
    ]
    return psi(ref, now), bins


def input_drift(reference: pd.DataFrame, inputs: Sequence[dict[str, Any]]) -> list[Record]:
    """PSI and bins for every feature both the reference and the logged inputs have."""
    live = pd.DataFrame(list(inputs))
    report = []
    for name in [c for c in reference.columns if c in live.columns]:
        ref_column, live_column = reference[name], live[name]
        numeric = is_numeric(ref_column)
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
