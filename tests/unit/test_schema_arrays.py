"""Validated records become one typed array in schema order, with no DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nervosum.schema.arrays import frame_to_array, records_to_array


def test_records_follow_the_schema_order_not_the_key_order() -> None:
    records = [{"b": 2.0, "a": 1}, {"a": 3, "b": 4.5}]
    array = records_to_array(records, ["a", "b"], np.dtype(np.float32))
    assert array.dtype == np.float32
    assert array.tolist() == [[1.0, 2.0], [3.0, 4.5]]


def test_a_missing_optional_value_is_nan() -> None:
    array = records_to_array([{"a": None, "b": 1.0}, {"b": 2.0}], ["a", "b"], np.dtype("f8"))
    assert np.isnan(array[:, 0]).all()
    assert array[:, 1].tolist() == [1.0, 2.0]


def test_no_records_is_an_empty_array_of_the_right_width() -> None:
    assert records_to_array([], ["a", "b", "c"], np.dtype("f4")).shape == (0, 3)


def test_a_typed_frame_keeps_its_column_order() -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": [0.5, None]})
    array = frame_to_array(frame, np.dtype(np.float64))
    assert array[:, 0].tolist() == [1.0, 2.0]
    assert array[0, 1] == 0.5 and np.isnan(array[1, 1])
