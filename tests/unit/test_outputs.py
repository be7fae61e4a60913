"""Whatever a model returns becomes one plain, JSON-able record per input row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nervosum.model.outputs import (
    DEFAULT_OUTPUT,
    PROBABILITIES,
    Outputs,
    OutputShapeError,
    native,
    probability_array,
    to_outputs,
)


def to_records(result: object, rows: int, names: list[str] | tuple[str, ...], **kwargs: bool):
    """What the model's answer becomes for a client: one record per row."""
    return to_outputs(result, rows, names, **kwargs).records()


def types_of(records: list[dict[str, object]]) -> list[list[type]]:
    return [[type(value) for value in record.values()] for record in records]


# --- DataFrames and Series --------------------------------------------------------------------


def test_dataframe_with_named_columns_keeps_its_names() -> None:
    frame = pd.DataFrame({"label": np.array([0, 2], dtype=np.int64), "score": [0.25, 0.75]})

    records = to_records(frame, 2, ["label", "score"])

    assert records == [{"label": 0, "score": 0.25}, {"label": 2, "score": 0.75}]
    assert types_of(records) == [[int, float], [int, float]]


def test_dataframe_column_order_is_the_models_not_the_schemas() -> None:
    frame = pd.DataFrame({"score": [0.5], "label": ["a"]})

    assert to_records(frame, 1, ["label", "score"]) == [{"score": 0.5, "label": "a"}]


def test_dataframe_with_unnamed_columns_takes_the_output_schema_names() -> None:
    frame = pd.DataFrame(np.array([[1, 2], [3, 4]], dtype=np.int32))

    records = to_records(frame, 2, ["low", "high"])

    assert records == [{"low": 1, "high": 2}, {"low": 3, "high": 4}]
    assert types_of(records) == [[int, int], [int, int]]


def test_single_unnamed_column_takes_the_single_output_name() -> None:
    frame = pd.DataFrame(np.array([[1.5], [2.5]], dtype=np.float32))

    assert to_records(frame, 2, ["score"]) == [{"score": 1.5}, {"score": 2.5}]


def test_dataframe_without_an_output_schema_keeps_its_columns() -> None:
    frame = pd.DataFrame({"a": [1], "b": ["x"]})

    assert to_records(frame, 1, []) == [{"a": 1, "b": "x"}]


def test_dataframe_with_a_custom_index_is_read_by_position() -> None:
    frame = pd.DataFrame({"y": [10, 20]}, index=[7, 3])

    assert to_records(frame, 2, ["y"]) == [{"y": 10}, {"y": 20}]


def test_dataframe_datetime_column_becomes_iso_text() -> None:
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)})

    assert to_records(frame, 2, []) == [
        {"at": "2024-01-01T00:00:00+00:00"},
        {"at": "2024-01-02T00:00:00+00:00"},
    ]


def test_dataframe_with_wrong_row_count_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="output 'a' has 2 values for 3 input rows"):
        to_records(pd.DataFrame({"a": [1, 2]}), 3, ["a"])


def test_series_is_the_single_output() -> None:
    records = to_records(pd.Series(np.array([1, 0, 1], dtype=np.int64)), 3, [])

    assert records == [{DEFAULT_OUTPUT: 1}, {DEFAULT_OUTPUT: 0}, {DEFAULT_OUTPUT: 1}]
    assert DEFAULT_OUTPUT == "prediction"
    assert types_of(records) == [[int], [int], [int]]


def test_series_takes_the_single_output_schema_name() -> None:
    assert to_records(pd.Series(["a", "b"]), 2, ["species"]) == [
        {"species": "a"},
        {"species": "b"},
    ]


def test_series_with_two_output_names_falls_back_to_prediction() -> None:
    assert to_records(pd.Series([1]), 1, ["a", "b"]) == [{"prediction": 1}]


def test_series_with_wrong_length_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="output 'label' has 2 values for 3 input rows"):
        to_records(pd.Series([1, 2]), 3, ["label"])


def test_categorical_series_gives_plain_strings() -> None:
    records = to_records(pd.Series(["a", "b"], dtype="category"), 2, [])

    assert records == [{"prediction": "a"}, {"prediction": "b"}]
    assert types_of(records) == [[str], [str]]


# --- numpy arrays ---------------------------------------------------------------------------


def test_1d_array_is_one_value_per_row() -> None:
    records = to_records(np.array([0, 1, 2], dtype=np.int64), 3, ["label"])

    assert records == [{"label": 0}, {"label": 1}, {"label": 2}]
    assert types_of(records) == [[int], [int], [int]]


def test_1d_float32_array_gives_python_floats() -> None:
    records = to_records(np.array([0.5, 1.25], dtype=np.float32), 2, [])

    assert records == [{"prediction": 0.5}, {"prediction": 1.25}]
    assert types_of(records) == [[float], [float]]


def test_1d_bool_array_gives_python_bools() -> None:
    records = to_records(np.array([True, False]), 2, ["flag"])

    assert records == [{"flag": True}, {"flag": False}]
    assert types_of(records) == [[bool], [bool]]


def test_2d_array_columns_take_the_output_schema_names() -> None:
    records = to_records(np.array([[1, 2.5], [3, 4.5]]), 2, ["a", "b"])

    assert records == [{"a": 1.0, "b": 2.5}, {"a": 3.0, "b": 4.5}]
    assert types_of(records) == [[float, float], [float, float]]


def test_2d_single_column_array_is_one_value_per_row() -> None:
    records = to_records(np.array([[7], [8]], dtype=np.int16), 2, ["label"])

    assert records == [{"label": 7}, {"label": 8}]
    assert types_of(records) == [[int], [int]]


def test_2d_array_without_matching_names_gives_a_list_per_row() -> None:
    records = to_records(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64), 2, [])

    assert records == [{"prediction": [1, 2, 3]}, {"prediction": [4, 5, 6]}]
    assert all(type(v) is int for record in records for v in record["prediction"])


def test_0d_array_is_a_single_row() -> None:
    records = to_records(np.array(5, dtype=np.int64), 1, [])

    assert records == [{"prediction": 5}]
    assert types_of(records) == [[int]]


def test_array_with_too_few_rows_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="output 'prediction' has 2 values for 3 input rows"):
        to_records(np.array([1, 2]), 3, [])


def test_array_with_too_many_rows_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="has 3 values for 2 input rows"):
        to_records(np.array([[1, 2], [3, 4], [5, 6]]), 2, ["a", "b"])


def test_0d_array_for_many_rows_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="has 1 values for 2 input rows"):
        to_records(np.array(5), 2, [])


def test_datetime_array_becomes_iso_text() -> None:
    records = to_records(np.array(["2024-01-01T00:00:00"], dtype="datetime64[ns]"), 1, [])

    assert records == [{"prediction": "2024-01-01T00:00:00"}]


# --- lists -------------------------------------------------------------------------------------


def test_list_of_scalars_is_one_value_per_row() -> None:
    records = to_records([1, 2, 3], 3, ["label"])

    assert records == [{"label": 1}, {"label": 2}, {"label": 3}]
    assert types_of(records) == [[int], [int], [int]]


def test_list_of_numpy_scalars_gives_python_scalars() -> None:
    records = to_records([np.int64(1), np.float32(2.5), np.bool_(True), np.str_("x")], 4, [])

    assert [r["prediction"] for r in records] == [1, 2.5, True, "x"]
    assert types_of(records) == [[int], [float], [bool], [str]]


def test_tuple_of_scalars_is_one_value_per_row() -> None:
    assert to_records(("a", "b"), 2, []) == [{"prediction": "a"}, {"prediction": "b"}]


def test_list_of_rows_takes_the_output_schema_names() -> None:
    assert to_records([[1, 2], [3, 4]], 2, ["a", "b"]) == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_list_of_scalars_with_wrong_length_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="output 'prediction' has 2 values for 3 input rows"):
        to_records([1, 2], 3, [])


def test_empty_list_for_no_rows_is_no_records() -> None:
    assert to_records([], 0, []) == []


def test_empty_list_for_one_row_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="has 0 values for 1 input rows"):
        to_records([], 1, [])


def test_list_of_dicts_is_one_record_per_row() -> None:
    records = to_records([{"a": np.int64(1), "b": "x"}, {"a": 2, "b": "y"}], 2, ["a", "b"])

    assert records == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert types_of(records) == [[int, str], [int, str]]


def test_list_of_dicts_converts_nested_numpy_values() -> None:
    records = to_records([{"v": np.array([1, 2]), "p": (np.float64(0.5),)}], 1, [])

    assert records == [{"v": [1, 2], "p": [0.5]}]
    assert type(records[0]["v"][0]) is int
    assert type(records[0]["p"][0]) is float


def test_list_of_dicts_with_wrong_length_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="returned 1 records for 2 input rows"):
        to_records([{"a": 1}], 2, [])


# --- dicts --------------------------------------------------------------------------------------


def test_dict_is_one_record_for_one_row() -> None:
    records = to_records({"label": np.int64(2), "score": np.float64(0.5)}, 1, ["label", "score"])

    assert records == [{"label": 2, "score": 0.5}]
    assert types_of(records) == [[int, float]]


def test_column_oriented_dict_is_one_record_per_row() -> None:
    records = to_records(
        {"label": [0, 1], "score": np.array([0.25, 0.75]), "name": pd.Series(["a", "b"])},
        2,
        ["label", "score", "name"],
    )

    assert records == [
        {"label": 0, "score": 0.25, "name": "a"},
        {"label": 1, "score": 0.75, "name": "b"},
    ]
    assert types_of(records) == [[int, float, str], [int, float, str]]


def test_column_oriented_dict_with_a_short_column_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="output 'b' has 1 values for 2 input rows"):
        to_records({"a": [1, 2], "b": [3]}, 2, [])


def test_single_mapping_for_many_rows_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="returned one mapping for 2 input rows"):
        to_records({"a": 1}, 2, [])


# --- scalars and unusable values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        (np.int64(3), 3, int),
        (np.float32(0.5), 0.5, float),
        (np.bool_(False), False, bool),
        (7, 7, int),
        (0.25, 0.25, float),
        ("setosa", "setosa", str),
    ],
)
def test_scalar_is_the_single_rows_output(value: object, expected: object, kind: type) -> None:
    records = to_records(value, 1, ["out"])

    assert records == [{"out": expected}]
    assert type(records[0]["out"]) is kind


def test_scalar_for_many_rows_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="returned a int, which is not one value per row"):
        to_records(3, 2, [])


def test_none_is_rejected() -> None:
    with pytest.raises(OutputShapeError, match="returned None"):
        to_records(None, 1, [])


def test_arbitrary_object_is_rejected() -> None:
    class Opaque:
        pass

    with pytest.raises(OutputShapeError, match="returned a Opaque, which is not one value per row"):
        to_records(Opaque(), 1, [])


def test_output_shape_error_is_a_value_error() -> None:
    assert issubclass(OutputShapeError, ValueError)


# --- values that are missing or dates ----------------------------------------------------------


def test_nullable_int_column_keeps_ints_and_none() -> None:
    frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64")})

    records = to_records(frame, 2, ["n"])

    assert records == [{"n": 1}, {"n": None}]
    assert type(records[0]["n"]) is int


def test_float_nan_stays_nan() -> None:
    records = to_records(np.array([np.nan, 1.0]), 2, [])

    assert math.isnan(records[0]["prediction"])
    assert type(records[0]["prediction"]) is float


# --- native -------------------------------------------------------------------------------


def test_native_converts_numpy_scalars() -> None:
    assert type(native(np.int32(1))) is int
    assert type(native(np.uint64(1))) is int
    assert type(native(np.float16(0.5))) is float
    assert type(native(np.bool_(True))) is bool
    assert type(native(np.str_("a"))) is str


def test_native_converts_containers_recursively() -> None:
    value = native({1: np.int64(2), "x": (np.float32(1.5), np.array([[1, 2]]))})

    assert value == {"1": 2, "x": [1.5, [[1, 2]]]}
    assert type(value["1"]) is int
    assert type(value["x"][1][0][0]) is int


def test_native_turns_timestamps_into_iso_text() -> None:
    assert native(pd.Timestamp("2024-01-01T12:30:00", tz="UTC")) == "2024-01-01T12:30:00+00:00"


def test_native_turns_numpy_datetimes_into_iso_text() -> None:
    assert native(np.datetime64("2024-01-01T00:00:00", "ns")) == "2024-01-01T00:00:00"


def test_native_leaves_plain_values_alone() -> None:
    assert native("x") == "x"
    assert native(None) is None
    assert native(3) == 3


# --- probabilities -------------------------------------------------------------------------------


def probability_maps(proba, classes, rows: int) -> list[dict[str, float]]:
    """The `{class: p}` maps the records of a classifier's answer carry."""
    labels, array = probability_array(proba, classes, rows)
    outputs = Outputs(rows, listed=[{} for _ in range(rows)], probabilities=array, labels=labels)
    return [record[PROBABILITIES] for record in outputs.records()]


def test_probabilities_are_keyed_by_class_name() -> None:
    maps = probability_maps(np.array([[0.1, 0.9], [0.8, 0.2]]), ["cat", "dog"], 2)

    assert maps == [{"cat": 0.1, "dog": 0.9}, {"cat": 0.8, "dog": 0.2}]
    assert all(type(p) is float for row in maps for p in row.values())


def test_probabilities_from_float32_with_a_class_tuple() -> None:
    maps = probability_maps(np.array([[0.25, 0.75]], dtype=np.float32), ("a", "b"), 1)

    assert maps == [{"a": 0.25, "b": 0.75}]
    assert all(type(p) is float for p in maps[0].values())


def test_probabilities_fall_back_to_column_indices() -> None:
    assert probability_maps([[0.3, 0.7]], None, 1) == [{"0": 0.3, "1": 0.7}]


def test_probabilities_ignore_class_names_of_the_wrong_length() -> None:
    assert probability_maps([[0.3, 0.7]], ["a", "b", "c"], 1) == [{"0": 0.3, "1": 0.7}]


def test_probabilities_from_a_dataframe_use_its_columns() -> None:
    frame = pd.DataFrame({"setosa": [0.5], "virginica": [0.5]})

    assert probability_maps(frame, None, 1) == [{"setosa": 0.5, "virginica": 0.5}]


def test_class_names_win_over_dataframe_columns() -> None:
    frame = pd.DataFrame([[0.4, 0.6]])

    assert probability_maps(frame, ["no", "yes"], 1) == [{"no": 0.4, "yes": 0.6}]


@pytest.mark.parametrize(
    ("proba", "rows", "shape"),
    [
        (np.array([0.1, 0.9]), 2, "(2,)"),
        (np.array([[0.1, 0.9]]), 2, "(1, 2)"),
        (np.zeros((2, 2, 2)), 2, "(2, 2, 2)"),
    ],
)
def test_probabilities_of_the_wrong_shape_are_rejected(proba, rows: int, shape: str) -> None:
    with pytest.raises(OutputShapeError) as info:
        probability_maps(proba, None, rows)

    assert str(info.value) == f"predict_proba returned shape {shape} for {rows} rows"
