"""Build the DataFrame a model receives from validated records.

Columns are always in schema order with the declared dtype, whatever key order the
client sent: the seed built frames from JSON key order and broke scikit-learn's
feature-name check when a client sorted its keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config.spec import SchemaField
from nervosum.config.types import Record


def _column(values: list[Any], field_type: str) -> Any:
    has_missing = any(v is None for v in values)
    if field_type == "float" or (field_type == "int" and has_missing):
        return np.array(values, dtype=np.float64)
    if field_type == "int":
        return np.array(values, dtype=np.int64)
    if field_type == "bool" and not has_missing:
        return np.array(values, dtype=np.bool_)
    if field_type == "datetime":
        return pd.to_datetime(values, utc=True)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def records_to_frame(
    records: Sequence[Record],
    fields: Sequence[SchemaField],
    *,
    exclude: str | None = None,
) -> pd.DataFrame:
    """One row per record, schema columns in schema order; ``exclude`` drops the id field."""
    if not fields:
        # Not from_records: it makes no row of an empty record, and `{}` is a row of
        # missing values (model-serving-framework's models are sent such rows).
        frame = pd.DataFrame(list(records))
        if exclude and exclude in frame.columns:
            frame = frame.drop(columns=[exclude])
        return frame
    data = {f.name: _column([r.get(f.name) for r in records], f.type) for f in fields}
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)), copy=False)
