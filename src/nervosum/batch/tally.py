"""What a batch job predicted, in its summary: the prediction metrics of the batch runtime.

For classes (text, integers, booleans) a count per predicted value (the first 100
values by name, the rest as ``other``, as the server's metrics bound their labels); for
floats the count, sum, mean, min and max. Each part tallies its own outputs into its
stats file; the job merges the parts' tallies, so resumed parts count too and both
engines report the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nervosum.config.types import Record
from nervosum.jsonio import dumps

MAX_CLASSES = 100
OTHER = "other"


def _label(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value).decode()


def _values(values: list[Any]) -> dict[str, Any]:
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return {}
    return {
        "kind": "values",
        "count": len(numbers),
        "sum": sum(numbers),
        "min": min(numbers),
        "max": max(numbers),
    }


def _classes(values: list[Any]) -> dict[str, Any]:
    counts = Counter(_label(v) for v in values if v is not None)
    return {"kind": "classes", "counts": _bounded(counts)}


def _bounded(counts: Counter[str]) -> dict[str, int]:
    kept = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_CLASSES])
    rest = sum(counts.values()) - sum(kept.values())
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    return kept


def tally(outputs: Sequence[Record] | pa.Table, output: str) -> dict[str, Any]:
    """The tally of the ``output`` column of one part's outputs."""
    if isinstance(outputs, pa.Table):
        if output not in outputs.column_names:
            return {}
        column = outputs.column(output)
        if pa.types.is_floating(column.type):
            valid = pc.drop_null(column)
            if not len(valid):
                return {}
            low, high = pc.min_max(valid).values()
            return {
                "kind": "values",
                "count": len(valid),
                "sum": pc.sum(valid).as_py(),
                "min": low.as_py(),
                "max": high.as_py(),
            }
        counts = pc.value_counts(pc.drop_null(column))
        pairs = Counter({_label(v["values"]): v["counts"] for v in counts.to_pylist()})
        return {"kind": "classes", "counts": _bounded(pairs)}
    values = [record.get(output) for record in outputs]
    first = next((v for v in values if v is not None), None)
    if first is None:
        return {}
    return _values(values) if isinstance(first, float) else _classes(values)


def merge(tallies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One tally for the job; a mean for values."""
    parts = [t for t in tallies if t]
    if not parts:
        return {}
    if all(t["kind"] == "values" for t in parts):
        count = sum(t["count"] for t in parts)
        total = sum(t["sum"] for t in parts)
        return {
            "kind": "values",
            "count": count,
            "sum": total,
            "mean": total / count,
            "min": min(t["min"] for t in parts),
            "max": max(t["max"] for t in parts),
        }
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part.get("counts", {}))
    return {"kind": "classes", "counts": _bounded(counts)}
