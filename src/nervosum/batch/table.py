"""Batch outputs as Arrow tables: the one shape every tabular part file is written from.

A chunk whose rows all pass the column-wise path goes from the model's arrays straight to
columns (no per-row records: that conversion cost as much as a forest's prediction).
Other chunks (some rows rejected, per-record models, records returned by the model) are
turned from records into the same columns, so every part of a job has one layout: the id
field, the kept columns, the model's outputs, then one `probability_<class>` column per
class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from nervosum.config.types import Record
from nervosum.jsonio import dumps
from nervosum.model.outputs import PROBABILITIES, Outputs

# Output columns the columnar path writes as they are; anything else (nested values,
# dates, mixed objects) goes through records, whose JSON rules it must follow.
_PLAIN = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string)


def _flat(record: Record) -> Record:
    """One level of columns: the probabilities map spread into `probability_<class>`."""
    probabilities = record.get(PROBABILITIES)
    if not isinstance(probabilities, dict):
        return record
    out = {k: v for k, v in record.items() if k != PROBABILITIES}
    out.update({f"probability_{label}": value for label, value in probabilities.items()})
    return out


def flat_records(records: Sequence[Record]) -> Sequence[Record]:
    """``records`` with probabilities spread into columns; one model call gives all or none
    of its records probabilities, so the first record tells whether any work is needed."""
    if not records or not isinstance(records[0].get(PROBABILITIES), dict):
        return records
    return [_flat(r) for r in records]


def _text(value: Any) -> Any:
    """A cell of a column that mixes types: text (JSON for anything but a string)."""
    return value if value is None or isinstance(value, str) else dumps(value).decode()


def _column(values: list[Any], *, text: bool) -> pa.Array:
    """An Arrow column for Python ``values``: nested values as JSON text when ``text`` (CSV
    has no nested cells), and a column of mixed types as text rather than an error."""
    if text and any(isinstance(v, dict | list) for v in values):
        values = [_text(v) for v in values]
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_text(v) for v in values])


def records_table(records: Sequence[Record], *, text: bool) -> pa.Table:
    """The table of ``records``: a column per key any of them has, in first-seen order."""
    rows = flat_records(records)
    names = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: _column([row.get(name) for row in rows], text=text) for name in names})


def _small(array: pa.Array) -> pa.Array:
    """Text as ``string`` whatever the reader made it (pandas' str dtype is large_string),
    so every part of a job has one schema."""
    return array.cast(pa.string()) if pa.types.is_large_string(array.type) else array


def present(values: pd.Series) -> pa.Array:
    """A raw input column as it is carried to the output: empty cells and NaN as null."""
    array = _small(pa.array(values, from_pandas=True))
    if pa.types.is_string(array.type):
        empty = pa.compute.equal(array, "")
        array = pa.compute.if_else(empty, pa.scalar(None, array.type), array)
    return array


def _plain(values: Any) -> pa.Array | None:
    """``values`` as an Arrow array of a plain type, or None when they are not plain."""
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    if not isinstance(values, np.ndarray) or values.ndim != 1 or values.dtype.kind not in "biufUO":
        return None
    try:
        array = _small(pa.array(values))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return array if any(check(array.type) for check in _PLAIN) else None


def outputs_table(
    outputs: Outputs, frame: pd.DataFrame, id_field: str | None, keep_columns: Sequence[str]
) -> pa.Table | None:
    """The part table for ``outputs`` of every row of ``frame``; None when an output
    column is not plain (the caller then writes records)."""
    if outputs.columns is None:
        return None
    columns: dict[str, pa.Array] = {}
    if id_field and id_field in frame.columns:
        columns[id_field] = present(frame[id_field])
    for name in keep_columns:
        if name not in columns:
            source = frame[name] if name in frame.columns else pd.Series([None] * len(frame))
            columns[name] = present(source)
    for name, values in outputs.columns.items():
        array = _plain(values)
        if array is None:
            return None
        columns.setdefault(name, array)
    if outputs.probabilities is not None:
        for label, values in zip(outputs.labels, outputs.probabilities.T, strict=True):
            columns[f"probability_{label}"] = pa.array(values)
    return pa.table(columns)
