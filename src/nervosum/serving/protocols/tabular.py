"""Rows in the shapes the standard protocols carry them, and predictions back out.

Protocols send tables as records (``[{"a": 1}]``), positional rows in schema order
(``[[1, 2]]``) or columns (``{"a": [1, 2]}``); all become records that the schema then
validates exactly as for the native route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nervosum.config.types import Record
from nervosum.errors import InputValidationError, RequestError
from nervosum.model.outputs import PROBABILITIES


def _invalid(message: str, loc: list[Any]) -> InputValidationError:
    return InputValidationError(message, details=[{"loc": loc, "msg": message, "type": "shape"}])


def rows_from_instances(
    instances: Any, names: Sequence[str], *, what: str = "instances"
) -> list[Record]:
    """Records from a list of objects, or of positional rows in schema order."""
    if not isinstance(instances, list):
        raise _invalid(f"{what} must be a list of rows", [what])
    rows: list[Record] = []
    for index, item in enumerate(instances):
        if isinstance(item, dict):
            rows.append(item)
        elif isinstance(item, list | tuple):
            if not names:
                raise _invalid(
                    "positional rows need an input_schema to name their values", [what, index]
                )
            if len(item) != len(names):
                expected = f"{len(names)} ({', '.join(names)})"
                raise _invalid(
                    f"row {index} has {len(item)} values; expected {expected}", [what, index]
                )
            rows.append(dict(zip(names, item, strict=True)))
        else:
            raise _invalid(f"row {index} must be an object or a list of values", [what, index])
    return rows


def rows_from_columns(columns: Any, *, what: str = "inputs") -> list[Record]:
    """Records from ``{"column": [values...]}``; every column must have the same length."""
    if not isinstance(columns, dict) or not columns:
        raise _invalid(f"{what} must map column names to lists of values", [what])
    lengths = {
        name: len(values) if isinstance(values, list) else -1 for name, values in columns.items()
    }
    if any(length < 0 for length in lengths.values()):
        bad = next(name for name, length in lengths.items() if length < 0)
        raise _invalid(f"column {bad!r} must be a list of values", [what, bad])
    if len(set(lengths.values())) > 1:
        raise _invalid(f"columns have different lengths: {lengths}", [what])
    count = next(iter(lengths.values()))
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def predictions(outputs: list[Record], output_names: Sequence[str]) -> list[Any]:
    """Plain values for a single-output model (as MLflow / KServe clients expect), else records."""
    if len(output_names) == 1:
        name = output_names[0]
        if all(set(o) == {name} for o in outputs):
            return [o[name] for o in outputs]
    return [{k: v for k, v in o.items() if k != PROBABILITIES} for o in outputs]


def require_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise RequestError("the body must be a JSON object")
    return payload
