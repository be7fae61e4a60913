"""Build the one typed 2-D array a model runtime takes, straight from validated records.

ONNX Runtime, XGBoost, LightGBM and scikit-learn estimators take a numeric array in the
order they were trained on; building a pandas DataFrame per batch only to hand them its
values cost more than a compiled forest's prediction. A missing optional value is NaN,
which these runtimes read as missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config.types import Record


def records_to_array(
    records: Sequence[Record], names: Sequence[str], dtype: np.dtype[Any]
) -> np.ndarray:
    """One row per record, one column per name in that order (None -> NaN)."""
    rows = [[record.get(name) for name in names] for record in records]
    return np.array(rows, dtype=dtype).reshape(len(records), len(names))


def frame_to_array(frame: pd.DataFrame, dtype: np.dtype[Any]) -> np.ndarray:
    """A typed frame's columns as one array (a batch chunk already in schema order)."""
    return frame.to_numpy(dtype=dtype, na_value=np.nan)
