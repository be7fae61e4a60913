"""The column fast path never decides differently from the row validator.

For every value it does not mark suspect, the typed value must equal what the row
validator produces; values it is unsure of are left to the row validator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nervosum.batch.columns import supports, typed_frame
from nervosum.config.spec import SchemaField
from nervosum.errors import InputValidationError
from nervosum.schema.records import RecordSchema

TEXT_VALUES = ["1", "-2", "+3", "4.5", "1e3", " 7", "007", "abc", "", "inf", "nan", "1_000",
               "99999999999999999999", "0.0", "-0", "True", "x y"]  # fmt: skip
# Text that Arrow's number parser takes whole (the fast float cast): edge spellings only.
NUMBER_TEXT = ["1", "-2", "+3", "4.5", "1e3", "007", "", "inf", "-inf", "nan", "NaN", ".5",
               "1.", "1e400", "99999999999999999999", "0.0", "-0", "1E-3"]  # fmt: skip

FIELDS = [
    [SchemaField(name="v", type="float")],
    [SchemaField(name="v", type="int")],
    [SchemaField(name="v", type="str")],
    [SchemaField(name="v", type="float", required=False, default=2.5)],
    [SchemaField(name="v", type="int", required=False)],
    [SchemaField(name="v", type="str", required=False, default="none")],
    [SchemaField(name="v", type="float", min=0, max=10)],
    [SchemaField(name="v", type="int", choices=(1, 2, 3))],
    [SchemaField(name="v", type="str", choices=("abc", "1"))],
]


def row_verdict(schema: RecordSchema, value: Any) -> tuple[bool, Any]:
    row = (
        {}
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value))
        else {"v": value}
    )
    try:
        return True, schema.validate([row])[0]["v"]
    except InputValidationError:
        return False, None


def same(a: Any, b: Any) -> bool:
    """Equal as the model sees them: numbers by value (an int field with missing values is a
    float64 column on both paths, as records_to_frame builds it), text by value and type."""
    missing = [x is None or (isinstance(x, float) and math.isnan(x)) for x in (a, b)]
    if any(missing):
        return all(missing)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b) and not isinstance(a, bool) and not isinstance(b, bool)
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize(
    "fields", FIELDS, ids=lambda f: f"{f[0].type}-{f[0].required}-{f[0].min}-{f[0].choices}"
)
@pytest.mark.parametrize(
    "column",
    [
        pd.Series(TEXT_VALUES, dtype=str),
        pd.Series(NUMBER_TEXT, dtype=str),
        pd.Series(NUMBER_TEXT, dtype=object),
        pd.Series([1, -2, 3, None, 0, 11], dtype="Int64"),
        pd.Series([1.0, 2.5, float("nan"), float("inf"), -0.0, 3.0]),
        pd.Series(["a", None, "1", "2.0"], dtype="string"),
    ],
    ids=["csv-text", "number-text", "number-objects", "nullable-int", "float", "arrow-string"],
)
def test_fast_path_agrees_with_the_row_validator(
    fields: list[SchemaField], column: pd.Series
) -> None:
    schema = RecordSchema(fields)
    typed, suspect = typed_frame(pd.DataFrame({"v": column}), fields)
    for index, raw in enumerate(column.tolist()):
        ok, expected = row_verdict(schema, None if raw is pd.NA else raw)
        if suspect[index]:
            continue
        assert ok, f"{raw!r} passed the fast path but the row validator rejects it"
        got = typed["v"].iloc[index]
        got = got.item() if isinstance(got, np.generic) else got
        assert same(got, expected), f"{raw!r}: fast {got!r} != row {expected!r}"


def test_clear_values_are_not_suspect() -> None:
    fields = [SchemaField(name="a", type="float"), SchemaField(name="b", type="int")]
    frame = pd.DataFrame({"a": ["1.5", "2"], "b": ["3", "4"], "extra": ["x", "y"]})
    typed, suspect = typed_frame(frame, fields)
    assert not suspect.any()
    assert typed.dtypes.tolist() == [np.float64, np.int64]
    assert typed.to_dict("list") == {"a": [1.5, 2.0], "b": [3, 4]}


def test_only_float_int_str_schemas_take_the_fast_path() -> None:
    assert supports([SchemaField(name="a", type="float"), SchemaField(name="b", type="str")])
    assert not supports([SchemaField(name="a", type="datetime")])
    assert not supports([])


def test_number_text_takes_the_arrow_parser_and_agrees() -> None:
    from nervosum.batch.columns import _arrow_floats

    parsed = _arrow_floats(pd.Series(NUMBER_TEXT, dtype=str))
    assert parsed is not None and np.isnan(parsed[NUMBER_TEXT.index("")])
    assert _arrow_floats(pd.Series(["1", " 2"], dtype=str)) is None  # blanks: pandas decides
