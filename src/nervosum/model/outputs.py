"""Normalise whatever a model returns into one JSON-able record per input row.

Models return DataFrames, Series, arrays, lists, dicts or scalars; clients always get
records named by ``output_schema`` (a single unnamed output is ``prediction``), with
numpy scalars turned into plain JSON types. The answer is first read as named columns
(:class:`Outputs`), so a columnar consumer (batch files) can skip the per-row records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config.types import Record

DEFAULT_OUTPUT = "prediction"
PROBABILITIES = "probabilities"


class OutputShapeError(ValueError):
    """The model's return value cannot be matched to its input rows."""


def native(value: Any) -> Any:
    """A plain Python / JSON value for numpy and pandas scalars and arrays."""
    if isinstance(value, np.datetime64 | pd.Timestamp):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "Mm":
            return [native(v) for v in value]
        return [native(v) for v in value.tolist()] if value.dtype.kind == "O" else value.tolist()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return {str(k): native(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [native(v) for v in value]
    return value


def _column_values(values: Any) -> list[Any]:
    if isinstance(values, pd.Series | pd.Index):
        series = pd.Series(values)
        if series.dtype.kind not in "fc" and series.hasnans:
            # Nullable ints, strings, datetimes: missing values become None, not NaN.
            series = series.astype(object).where(series.notna(), None)
        values = series.to_numpy()
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "Mm":
            return [native(v) for v in values]
        if values.dtype.kind in "biufc":  # .tolist() already gives plain Python numbers
            return list(values.tolist())
        return [native(v) for v in values.tolist()]
    return [native(v) for v in values]


def _checked(columns: dict[str, Any], rows: int) -> dict[str, Any]:
    if not columns:
        raise OutputShapeError("returned no output columns")
    for name, values in columns.items():
        if len(values) != rows:
            raise OutputShapeError(
                f"output {name!r} has {len(values)} values for {rows} input rows"
            )
    return columns


@dataclass
class Outputs:
    """A model's answer for ``rows`` rows: named columns as the model made them (arrays,
    Series, lists), or records when it answered with records; class probabilities as a
    (rows, classes) array beside them."""

    rows: int
    columns: dict[str, Any] | None = None
    listed: list[Record] | None = None
    probabilities: np.ndarray | None = None
    labels: tuple[str, ...] = ()

    def records(self) -> list[Record]:
        """One JSON-able record per row, probabilities as a ``{class: p}`` map."""
        if self.columns is not None:
            lists = [_column_values(values) for values in self.columns.values()]
            names = list(self.columns)
            records = [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]
        else:
            records = list(self.listed or [])
        if self.probabilities is not None:
            for record, values in zip(records, self.probabilities.tolist(), strict=True):
                record[PROBABILITIES] = dict(zip(self.labels, values, strict=True))
        return records


def _single_name(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else DEFAULT_OUTPUT


def _frame_columns(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, Any]:
    columns = [str(c) for c in frame.columns]
    unnamed = not any(isinstance(c, str) for c in frame.columns)
    if unnamed and len(columns) == len(names):
        columns = list(names)  # unnamed columns (0, 1, ...) take the schema's names in order
    return {name: frame.iloc[:, i] for i, name in enumerate(columns)}


def _array_columns(array: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    if array.ndim == 0:
        return {_single_name(names): [array.item()]}
    if array.ndim == 1:
        return {_single_name(names): array}
    if array.ndim == 2 and array.shape[1] == len(names) and len(names) > 1:
        return {n: array[:, i] for i, n in enumerate(names)}
    if array.ndim == 2 and array.shape[1] == 1:
        return {_single_name(names): array[:, 0]}
    return {_single_name(names): list(array)}


def _is_column(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray | pd.Series)


def _mapping_outputs(result: dict[Any, Any], rows: int, *, single_record: bool) -> Outputs:
    if not result:
        raise OutputShapeError("returned an empty mapping")
    if not single_record and all(_is_column(v) for v in result.values()):
        return Outputs(rows, columns=_checked({str(k): v for k, v in result.items()}, rows))
    if rows == 1:
        return Outputs(rows, listed=[native(result)])
    raise OutputShapeError(f"returned one mapping for {rows} input rows")


def to_outputs(
    result: Any, rows: int, names: Sequence[str], *, single_record: bool = False
) -> Outputs:
    """Read ``result`` as the answer for ``rows`` rows; raise :class:`OutputShapeError` if
    it cannot be one.

    A mapping of sequences is read as columns (the same answer whatever the batch size),
    except with ``single_record``, where a mapping is always one record (the
    ``transform_predict`` contract).
    """
    if result is None:
        raise OutputShapeError("returned None")
    if isinstance(result, pd.DataFrame):
        return Outputs(rows, columns=_checked(_frame_columns(result, names), rows))
    if isinstance(result, pd.Series):
        return Outputs(rows, columns=_checked({_single_name(names): result}, rows))
    if isinstance(result, dict):
        return _mapping_outputs(result, rows, single_record=single_record)
    if isinstance(result, list | tuple):
        if result and all(isinstance(r, dict) for r in result):
            if len(result) != rows:
                raise OutputShapeError(f"returned {len(result)} records for {rows} input rows")
            return Outputs(rows, listed=[native(r) for r in result])
        result = np.asarray(result, dtype=object)
    if isinstance(result, np.ndarray):
        return Outputs(rows, columns=_checked(_array_columns(result, names), rows))
    if rows == 1 and isinstance(result, str | int | float | bool | np.generic):
        return Outputs(rows, listed=[{_single_name(names): native(result)}])
    raise OutputShapeError(f"returned a {type(result).__name__}, which is not one value per row")


def probability_array(
    proba: Any, classes: Sequence[str] | None, rows: int
) -> tuple[tuple[str, ...], np.ndarray]:
    """Class labels and the (rows, classes) array of a ``predict_proba`` result."""
    array = np.asarray(proba.to_numpy() if isinstance(proba, pd.DataFrame) else proba, dtype=float)
    if array.ndim != 2 or array.shape[0] != rows:
        raise OutputShapeError(f"predict_proba returned shape {array.shape} for {rows} rows")
    names = list(classes) if classes and len(classes) == array.shape[1] else None
    if names is None and isinstance(proba, pd.DataFrame):
        names = [str(c) for c in proba.columns]
    return tuple(names or [str(i) for i in range(array.shape[1])]), array


def predicted_value(output: Record, id_field: str | None) -> Any:
    """The prediction in ``output``: its first value that is not the echoed id or the
    probabilities (what a label grades, what two models agree on or not, what an explanation
    explains)."""
    for key in output:
        if key not in (PROBABILITIES, id_field):
            return output[key]
    return None
