"""The rows a converted model is checked on before it serves.

The example rows (the project's and the MLflow input example), the user's reference
file (``model.compile.reference``: CSV, Parquet or JSON Lines), and rows drawn within the
schema's ranges: ``min``/``max`` and ``choices`` where given, else spread around the
values seen in the other rows, else a wide default. The draw is seeded, so a load checks
the same rows every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config.spec import SchemaField
from nervosum.config.types import Record
from nervosum.errors import ConfigError, ConfigIssue
from nervosum.model.outputs import native
from nervosum.schema.records import example_value

DRAWN_ROWS = 256
SPLITS_CHECKED = 128  # split thresholds probed per model, spread over all of them
_SEED = 21
_WIDE = 100.0  # half-width of the draw for a number with no bounds and no examples


def _bad_reference(message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(
        "nervosum.yaml", [ConfigIssue("model.compile.reference", message, hint=hint)]
    )


def read_reference(path: Path, fields: Sequence[SchemaField]) -> list[Record]:
    """The schema's columns of a CSV, Parquet or JSON Lines file, one record per row."""
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".csv": pd.read_csv,
        ".parquet": pd.read_parquet,
        ".jsonl": _read_jsonl,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise _bad_reference(
            f"{path.name} is not .csv, .parquet or .jsonl",
            hint="write the reference rows as CSV, Parquet or JSON Lines",
        )
    try:
        frame = reader(path)
    except (OSError, ValueError) as exc:
        raise _bad_reference(f"cannot read {path}: {exc}") from None
    missing = [f.name for f in fields if f.name not in frame.columns]
    if missing:
        raise _bad_reference(
            f"{path.name} has no column {missing[0]!r}",
            hint=f"give every input field as a column: {', '.join(f.name for f in fields)}",
        )
    columns = frame[[f.name for f in fields]].astype(object)
    return [
        {str(name): None if _missing(value) else native(value) for name, value in row.items()}
        for row in columns.to_dict(orient="records")
    ]


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _draw(field: SchemaField, seen: list[Any], rng: np.random.Generator, count: int) -> list[Any]:
    if field.choices:
        return [native(v) for v in rng.choice(np.array(field.choices, dtype=object), count)]
    if field.type == "bool":
        return [bool(v) for v in rng.integers(0, 2, count)]
    if field.type not in ("int", "float"):
        pool = seen or [example_value(field)]
        return [native(v) for v in rng.choice(np.array(pool, dtype=object), count)]
    numbers = np.array([v for v in seen if isinstance(v, int | float)], dtype=np.float64)
    centre = float(numbers.mean()) if numbers.size else 0.0
    spread = 2 * float(numbers.std()) if numbers.size > 1 else 0.0
    spread = spread or (max(abs(centre), 1.0) if numbers.size else _WIDE)
    low = field.min if field.min is not None else centre - spread
    high = field.max if field.max is not None else centre + spread
    if field.min is not None and field.max is None:
        high = low + 2 * spread
    if field.max is not None and field.min is None:
        low = high - 2 * spread
    values = rng.uniform(low, high, count)
    if field.type == "int":
        return [int(v) for v in np.clip(np.rint(values), np.ceil(low), np.floor(high))]
    return [float(v) for v in values]


def reference_rows(
    fields: Sequence[SchemaField],
    examples: Sequence[Record],
    reference: Path | None,
    count: int = DRAWN_ROWS,
) -> list[Record]:
    """Examples first, then the reference file's rows, then ``count`` drawn rows."""
    given = [{f.name: row.get(f.name) for f in fields} for row in examples]
    if reference is not None:
        given.extend(read_reference(reference, fields))
    rng = np.random.default_rng(_SEED)
    drawn = {
        f.name: _draw(f, [row[f.name] for row in given if row[f.name] is not None], rng, count)
        for f in fields
    }
    return given + [{name: drawn[name][i] for name in drawn} for i in range(count)]


def split_rows(
    fields: Sequence[SchemaField],
    base: Record,
    splits: dict[int, list[float]],
    limit: int = SPLITS_CHECKED,
) -> list[Record]:
    """Rows right at and around the trees' split thresholds, one number changed from
    ``base`` at a time: where float32 and the original's float64 part ways (a LightGBM
    split at 0.10000000005 is 0.1 in float32), drawn rows almost never land.

    Per threshold ``t`` (a float32 value): ``t`` itself, the float64 numbers next to it,
    the midpoints to its float32 neighbours and the float64 numbers just inside them:
    every float64 between those midpoints is ``t`` in float32, and an original threshold
    may be anywhere among them (float32 rounds a midpoint itself to the even side)."""
    points = [
        (column, threshold)
        for column, thresholds in sorted(splits.items())
        if column < len(fields) and fields[column].type == "float"
        for threshold in thresholds
    ]
    if len(points) > limit:
        points = [points[i] for i in np.linspace(0, len(points) - 1, limit).astype(int)]
    rows: list[Record] = []
    for column, threshold in points:
        below = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
        above = float(np.nextafter(np.float32(threshold), np.float32(np.inf)))
        low, high = (threshold + below) / 2, (threshold + above) / 2
        near = (
            threshold,
            float(np.nextafter(threshold, -np.inf)),
            float(np.nextafter(threshold, np.inf)),
            low,
            float(np.nextafter(low, np.inf)),
            high,
            float(np.nextafter(high, -np.inf)),
        )
        rows.extend({**base, fields[column].name: value} for value in near)
    return rows
