"""Input validation (RecordSchema) and the DataFrame a model receives (records_to_frame)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from nervosum.config import SchemaField
from nervosum.errors import InputValidationError, RequestError
from nervosum.schema.frame import records_to_frame
from nervosum.schema.records import RecordSchema


def field(name: str, type_: str, **values: object) -> SchemaField:
    return SchemaField.model_validate({"name": name, "type": type_, **values})


IRIS = [
    field("sepal_length", "float"),
    field("sepal_width", "float"),
    field("petal_length", "float"),
    field("petal_width", "float"),
]
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def invalid(schema: RecordSchema, body: bytes) -> InputValidationError:
    with pytest.raises(InputValidationError) as info:
        schema.parse_json(body)
    return info.value


def bad_request(schema: RecordSchema, body: bytes) -> RequestError:
    with pytest.raises(RequestError) as info:
        schema.parse_json(body)
    assert not isinstance(info.value, InputValidationError)
    return info.value


# --- parse_json: shape -----------------------------------------------------------------


def test_object_body_is_one_record_not_an_array() -> None:
    records, is_array = RecordSchema(IRIS).parse_json(json.dumps(SETOSA).encode())

    assert records == [SETOSA]
    assert is_array is False


def test_array_body_is_many_records_and_an_array() -> None:
    other = {**SETOSA, "petal_width": 2.3}

    records, is_array = RecordSchema(IRIS).parse_json(json.dumps([SETOSA, other]).encode())

    assert records == [SETOSA, other]
    assert is_array is True


def test_array_after_leading_whitespace_is_still_an_array() -> None:
    records, is_array = RecordSchema(IRIS).parse_json(
        b"\n  \t[" + json.dumps(SETOSA).encode() + b"]"
    )

    assert (records, is_array) == ([SETOSA], True)


def test_empty_array_is_no_records() -> None:
    assert RecordSchema(IRIS).parse_json(b"[]") == ([], True)


def test_ints_are_accepted_for_float_fields_and_become_floats() -> None:
    (record,), _ = RecordSchema(IRIS).parse_json(
        b'{"sepal_length": 5, "sepal_width": 3, "petal_length": 1, "petal_width": 0}'
    )

    assert record == {
        "sepal_length": 5.0,
        "sepal_width": 3.0,
        "petal_length": 1.0,
        "petal_width": 0.0,
    }
    assert all(type(value) is float for value in record.values())


# --- parse_json: every field present ------------------------------------------------------


def test_records_always_contain_every_field() -> None:
    schema = RecordSchema(
        [
            field("a", "int"),
            field("b", "float", required=False),
            field("c", "str", default="fallback"),
            field("d", "bool", required=False, default=False),
        ]
    )

    records, _ = schema.parse_json(b'[{"a": 1}, {"a": 2, "b": 0.5, "c": "given", "d": true}]')

    assert records == [
        {"a": 1, "b": None, "c": "fallback", "d": False},
        {"a": 2, "b": 0.5, "c": "given", "d": True},
    ]


def test_explicit_null_for_an_optional_field_stays_null() -> None:
    schema = RecordSchema([field("a", "int", required=False)])

    assert schema.parse_json(b'{"a": null}') == ([{"a": None}], False)


def test_null_for_a_required_field_is_rejected() -> None:
    error = invalid(RecordSchema([field("a", "int")]), b'{"a": null}')

    assert error.details == [
        {"loc": ["a"], "msg": "Input should be a valid integer", "type": "int_type"}
    ]


# --- parse_json: 422 with every bad field ----------------------------------------------------


def test_every_bad_field_is_listed_with_its_path() -> None:
    schema = RecordSchema([field("a", "int"), field("b", "str")])

    error = invalid(schema, b'{"a": "x", "b": 5}')

    assert error.http_status == 422
    assert error.code == "validation_error"
    assert error.details == [
        {
            "loc": ["a"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        },
        {"loc": ["b"], "msg": "Input should be a valid string", "type": "string_type"},
    ]
    assert error.message == (
        "2 invalid fields: a: Input should be a valid integer, unable to parse string as an "
        "integer; b: Input should be a valid string"
    )


def test_array_errors_are_located_by_row_index_and_field() -> None:
    schema = RecordSchema([field("a", "int"), field("b", "int")])

    error = invalid(schema, b'[{"a": 1, "b": 2}, {"a": 1.5, "b": 2}, {"a": 3}]')

    assert [(d["loc"], d["type"]) for d in error.details] == [
        ([1, "a"], "int_from_float"),
        ([2, "b"], "missing"),
    ]
    assert error.details[1]["msg"] == "required field is missing"


def test_summary_shows_three_problems_and_counts_the_rest() -> None:
    schema = RecordSchema([field(name, "int") for name in "abcde"])

    error = invalid(schema, b"{}")

    assert len(error.details) == 5
    assert error.message == (
        "5 invalid fields: a: required field is missing; b: required field is missing; "
        "c: required field is missing (and 2 more)"
    )


def test_one_invalid_field_is_singular() -> None:
    error = invalid(RecordSchema([field("a", "int")]), b"{}")

    assert error.message == "1 invalid field: a: required field is missing"


def test_unknown_field_suggests_the_closest_name() -> None:
    body = json.dumps({**SETOSA, "sepal_lenght": 1.0}).encode()

    error = invalid(RecordSchema(IRIS), body)

    assert error.details == [
        {
            "loc": ["sepal_lenght"],
            "msg": "unknown field; did you mean 'sepal_length'?",
            "type": "extra_forbidden",
        }
    ]


def test_unknown_field_without_a_close_name_lists_the_fields() -> None:
    error = invalid(
        RecordSchema([field("a", "int"), field("b", "int")]), b'{"a": 1, "b": 2, "zzz": 3}'
    )

    assert error.details[0]["msg"] == "unknown field; expected: a, b"


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_non_finite_floats_are_rejected(number: bytes) -> None:
    error = invalid(RecordSchema([field("x", "float")]), b'{"x": ' + number + b"}")

    assert error.details == [
        {"loc": ["x"], "msg": "Input should be a finite number", "type": "finite_number"}
    ]


def test_large_finite_float_is_accepted() -> None:
    records, _ = RecordSchema([field("x", "float")]).parse_json(b'{"x": 1e300}')

    assert records == [{"x": 1e300}]


def test_choices_are_enforced() -> None:
    schema = RecordSchema([field("species", "str", choices=["setosa", "virginica"])])

    assert schema.parse_json(b'{"species": "setosa"}') == ([{"species": "setosa"}], False)
    error = invalid(schema, b'{"species": "rose"}')
    assert error.details == [
        {
            "loc": ["species"],
            "msg": "Input should be 'setosa' or 'virginica'",
            "type": "literal_error",
        }
    ]


def test_min_and_max_are_inclusive_bounds() -> None:
    schema = RecordSchema([field("n", "int", min=1, max=3)])

    records, _ = schema.parse_json(b'[{"n": 1}, {"n": 3}]')
    error = invalid(schema, b'[{"n": 0}, {"n": 4}]')

    assert records == [{"n": 1}, {"n": 3}]
    assert error.details == [
        {
            "loc": [0, "n"],
            "msg": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        },
        {
            "loc": [1, "n"],
            "msg": "Input should be less than or equal to 3",
            "type": "less_than_equal",
        },
    ]


def test_float_bounds_are_enforced() -> None:
    error = invalid(RecordSchema([field("p", "float", min=0, max=1)]), b'{"p": 1.5}')

    assert error.details[0]["msg"] == "Input should be less than or equal to 1"


def test_datetime_fields_become_timezone_aware_datetimes() -> None:
    schema = RecordSchema([field("at", "datetime")])

    (record,), _ = schema.parse_json(b'{"at": "2024-05-01T12:00:00+02:00"}')

    assert record["at"] == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert record["at"].utcoffset() == timedelta(hours=2)


def test_list_and_dict_fields_keep_their_values() -> None:
    schema = RecordSchema([field("tags", "list"), field("extra", "dict")])

    records, _ = schema.parse_json(b'{"tags": [1, "a"], "extra": {"k": [1]}}')

    assert records == [{"tags": [1, "a"], "extra": {"k": [1]}}]
    assert invalid(schema, b'{"tags": "a", "extra": []}').details == [
        {"loc": ["tags"], "msg": "Input should be a valid array", "type": "list_type"},
        {"loc": ["extra"], "msg": "Input should be an object", "type": "dict_type"},
    ]


def test_id_field_is_accepted_but_not_required() -> None:
    schema = RecordSchema([field("x", "int")], id_field="request_id")

    records, _ = schema.parse_json(
        b'[{"x": 1, "request_id": "r-1"}, {"x": 2, "request_id": 7}, {"x": 3}]'
    )

    assert records == [{"x": 1, "request_id": "r-1"}, {"x": 2, "request_id": 7}, {"x": 3}]


def test_error_record_carries_the_details() -> None:
    error = invalid(RecordSchema([field("a", "int")]), b"{}")

    assert error.to_record() == {
        "type": "validation_error",
        "message": "1 invalid field: a: required field is missing",
        "details": [{"loc": ["a"], "msg": "required field is missing", "type": "missing"}],
    }


# --- parse_json: bodies that are not records ------------------------------------------------


@pytest.mark.parametrize("body", [b'{"a": 1', b"{'a': 1}", b"", b"not json", b'{"a": 1} trailing'])
def test_invalid_json_is_a_400_request_error(body: bytes) -> None:
    error = bad_request(RecordSchema([field("a", "int")]), body)

    assert error.http_status == 400
    assert error.code == "bad_request"
    assert error.message.startswith("body is not valid JSON: ")


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000]
)
def test_deeply_nested_json_is_a_400_not_a_crash(body: bytes) -> None:
    error = bad_request(RecordSchema([field("a", "int")]), body)

    assert error.http_status == 400
    assert "recursion limit exceeded" in error.message


def test_deep_nesting_is_a_400_without_a_schema_too() -> None:
    error = bad_request(RecordSchema([]), b"[" * 100_000)

    assert error.http_status == 400


@pytest.mark.parametrize("body", [b'"hello"', b"42", b"3.5", b"null", b"true"])
def test_wrong_top_level_type_is_a_clear_422(body: bytes) -> None:
    error = invalid(RecordSchema(IRIS), body)

    assert error.http_status == 422
    assert error.details == [
        {
            "loc": [],
            "msg": "expected a JSON object (one record) or an array of objects",
            "type": "dict_type",
        }
    ]
    assert (
        error.message
        == "1 invalid field: body: expected a JSON object (one record) or an array of objects"
    )


def test_array_of_non_objects_names_each_bad_item() -> None:
    error = invalid(RecordSchema(IRIS), b'[1, "a"]')

    assert [d["loc"] for d in error.details] == [[0], [1]]
    assert {d["msg"] for d in error.details} == {
        "expected a JSON object (one record) or an array of objects"
    }


# --- validate(): python rows, lax casting --------------------------------------------------


def test_validate_casts_csv_style_strings() -> None:
    schema = RecordSchema(
        [field("length", "float"), field("count", "int"), field("ok", "bool"), field("name", "str")]
    )

    records = schema.validate([{"length": "5.1", "count": "3", "ok": "true", "name": "a"}])

    assert records == [{"length": 5.1, "count": 3, "ok": True, "name": "a"}]
    assert type(records[0]["length"]) is float
    assert type(records[0]["count"]) is int


def test_validate_fills_defaults() -> None:
    schema = RecordSchema([field("a", "int"), field("b", "int", default=9)])

    assert schema.validate([{"a": "1"}, {"a": 2, "b": 3}]) == [{"a": 1, "b": 9}, {"a": 2, "b": 3}]


def test_validate_reports_row_and_field() -> None:
    schema = RecordSchema([field("length", "float")])

    with pytest.raises(InputValidationError) as info:
        schema.validate([{"length": "5.1"}, {"length": "long"}])

    assert [d["loc"] for d in info.value.details] == [[1, "length"]]
    assert info.value.details[0]["type"] == "float_parsing"


def test_validate_rejects_non_finite_strings() -> None:
    with pytest.raises(InputValidationError) as info:
        RecordSchema([field("x", "float")]).validate([{"x": "nan"}])

    assert info.value.details[0]["msg"] == "Input should be a finite number"


# --- no schema -------------------------------------------------------------------------------


def test_without_a_schema_any_object_is_a_record() -> None:
    schema = RecordSchema([])

    records, is_array = schema.parse_json(b'[{"x": 1, "y": [1, 2]}, {"z": {"k": null}}]')

    assert records == [{"x": 1, "y": [1, 2]}, {"z": {"k": None}}]
    assert is_array is True
    assert schema.parse_json(b"{}") == ([{}], False)


def test_without_a_schema_non_objects_are_still_rejected() -> None:
    error = invalid(RecordSchema([]), b'"text"')

    assert error.details[0]["msg"] == "expected a JSON object (one record) or an array of objects"


def test_without_a_schema_the_example_is_empty() -> None:
    assert RecordSchema([]).example() == {}


# --- example() and json_schema() ---------------------------------------------------------


def test_example_uses_example_default_choice_min_then_type() -> None:
    schema = RecordSchema(
        [
            field("given", "float", example=2.5, default=1.0, required=False),
            field("defaulted", "int", default=7),
            field("chosen", "str", choices=["b", "a"]),
            field("bounded_int", "int", min=3),
            field("bounded_float", "float", min=0.5),
            field("i", "int"),
            field("f", "float"),
            field("s", "str"),
            field("b", "bool"),
            field("t", "datetime"),
            field("l", "list"),
            field("d", "dict"),
        ]
    )

    example = schema.example()

    assert example == {
        "given": 2.5,
        "defaulted": 7,
        "chosen": "b",
        "bounded_int": 3,
        "bounded_float": 0.5,
        "i": 0,
        "f": 0.0,
        "s": "string",
        "b": True,
        "t": "2026-01-01T00:00:00Z",
        "l": [],
        "d": {},
    }
    assert type(example["bounded_int"]) is int


@pytest.mark.parametrize(
    "fields",
    [
        IRIS,
        [field("n", "int", min=1, max=3), field("c", "str", choices=["x", "y"])],
        [field("p", "float", min=0.25, max=0.75), field("t", "datetime")],
        [field("l", "list"), field("d", "dict", required=False), field("b", "bool")],
        [field("e", "int", example=5, min=0, max=9), field("g", "str", default="z")],
    ],
)
def test_example_validates_against_its_own_schema(fields: list[SchemaField]) -> None:
    schema = RecordSchema(fields)
    example = schema.example()

    records, _ = schema.parse_json(json.dumps(example).encode())

    assert set(records[0]) == {f.name for f in fields}
    assert schema.validate([example])[0].keys() == records[0].keys()


def test_json_schema_describes_one_record() -> None:
    schema = RecordSchema(
        [
            field("n", "int", min=1, max=3, description="how many"),
            field("c", "str", choices=["x", "y"]),
            field("o", "float", required=False, example=0.5),
        ],
        title="Input",
    )

    document = schema.json_schema()

    assert document["title"] == "Input"
    assert document["type"] == "object"
    assert document["additionalProperties"] is False
    assert document["required"] == ["n", "c"]
    assert document["properties"]["n"] == {
        "description": "how many",
        "maximum": 3.0,
        "minimum": 1.0,
        "title": "N",
        "type": "integer",
    }
    assert document["properties"]["c"]["enum"] == ["x", "y"]
    assert document["properties"]["o"]["anyOf"][0] == {"examples": [0.5], "type": "number"}
    assert document["example"] == {"n": 1, "c": "x", "o": 0.5}


def test_json_schema_lists_the_id_field_as_optional() -> None:
    document = RecordSchema([field("x", "int")], id_field="rid").json_schema()

    assert set(document["properties"]) == {"x", "rid"}
    assert document["required"] == ["x"]


# --- records_to_frame ------------------------------------------------------------------------


def test_frame_columns_follow_schema_order_not_key_order() -> None:
    schema = RecordSchema(IRIS)
    records, _ = schema.parse_json(
        b'[{"petal_width": 0.2, "sepal_width": 3.5, "petal_length": 1.4, "sepal_length": 5.1},'
        b' {"sepal_length": 6.7, "petal_length": 5.2, "petal_width": 2.3, "sepal_width": 3.0}]'
    )

    frame = records_to_frame(records, IRIS)

    assert list(frame.columns) == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert frame.to_numpy().tolist() == [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    assert isinstance(frame.index, pd.RangeIndex)
    assert list(frame.index) == [0, 1]


def test_frame_dtypes_follow_the_declared_types() -> None:
    fields = [
        field("i", "int"),
        field("f", "float"),
        field("b", "bool"),
        field("s", "str"),
        field("l", "list"),
        field("d", "dict"),
    ]
    records = [
        {"i": 1, "f": 1, "b": True, "s": "a", "l": [1, 2], "d": {"k": 1}},
        {"i": 2, "f": 2.5, "b": False, "s": "b", "l": [], "d": {}},
    ]

    frame = records_to_frame(records, fields)

    assert frame["i"].dtype == np.dtype("int64")
    assert frame["f"].dtype == np.dtype("float64")
    assert frame["b"].dtype == np.dtype("bool")
    assert pd.api.types.is_string_dtype(frame["s"])
    assert frame["l"].dtype == np.dtype("object")
    assert frame["d"].dtype == np.dtype("object")
    assert frame["f"].tolist() == [1.0, 2.5]
    assert frame["l"].tolist() == [[1, 2], []]
    assert frame["d"].tolist() == [{"k": 1}, {}]
    assert frame["s"].tolist() == ["a", "b"]


def test_int_column_with_missing_values_is_float_with_nan() -> None:
    frame = records_to_frame([{"n": 1}, {"n": None}], [field("n", "int", required=False)])

    assert frame["n"].dtype == np.dtype("float64")
    assert frame["n"].iloc[0] == 1.0
    assert math.isnan(frame["n"].iloc[1])


def test_float_column_with_missing_values_is_nan() -> None:
    frame = records_to_frame([{"x": None}, {"x": 0.5}], [field("x", "float", required=False)])

    assert frame["x"].dtype == np.dtype("float64")
    assert math.isnan(frame["x"].iloc[0])


def test_bool_column_with_missing_values_keeps_none() -> None:
    frame = records_to_frame([{"b": True}, {"b": None}], [field("b", "bool", required=False)])

    assert frame["b"].dtype == np.dtype("object")
    assert frame["b"].tolist() == [True, None]


def test_datetime_column_is_timezone_aware_utc() -> None:
    schema = RecordSchema([field("at", "datetime")])
    records, _ = schema.parse_json(
        b'[{"at": "2024-05-01T12:00:00+02:00"}, {"at": "2024-05-01T00:00:00"},'
        b' {"at": "2024-05-01T00:00:00Z"}]'
    )

    frame = records_to_frame(records, schema.fields)

    dtype = frame["at"].dtype
    assert isinstance(dtype, pd.DatetimeTZDtype)
    assert str(dtype.tz) == "UTC"
    assert frame["at"].tolist() == [
        pd.Timestamp("2024-05-01T10:00:00", tz="UTC"),
        pd.Timestamp("2024-05-01T00:00:00", tz="UTC"),  # naive input is read as UTC
        pd.Timestamp("2024-05-01T00:00:00", tz="UTC"),
    ]


def test_datetime_column_from_python_datetimes() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))

    frame = records_to_frame([{"at": moment}], [field("at", "datetime")])

    assert frame["at"].iloc[0] == pd.Timestamp("2024-01-02T08:04:05", tz="UTC")


def test_frame_ignores_keys_outside_the_schema() -> None:
    frame = records_to_frame([{"x": 1, "request_id": "r1"}], [field("x", "int")])

    assert list(frame.columns) == ["x"]


def test_empty_records_give_an_empty_frame_with_schema_columns() -> None:
    frame = records_to_frame([], [field("x", "int"), field("y", "float")])

    assert list(frame.columns) == ["x", "y"]
    assert len(frame) == 0
    assert frame["x"].dtype == np.dtype("int64")
    assert frame["y"].dtype == np.dtype("float64")


def test_without_a_schema_columns_are_as_sent() -> None:
    frame = records_to_frame([{"b": 1, "a": 2}, {"b": 3, "a": 4}], [])

    assert list(frame.columns) == ["b", "a"]
    assert frame.to_numpy().tolist() == [[1, 2], [3, 4]]


def test_exclude_drops_the_id_field_without_a_schema() -> None:
    records = [{"id": "r1", "x": 2}, {"id": "r2", "x": 3}]

    frame = records_to_frame(records, [], exclude="id")

    assert list(frame.columns) == ["x"]
    assert frame["x"].tolist() == [2, 3]
    assert list(records_to_frame(records, []).columns) == ["id", "x"]


def test_exclude_of_an_absent_column_is_harmless() -> None:
    frame = records_to_frame([{"x": 1}], [], exclude="id")

    assert list(frame.columns) == ["x"]


def test_parsed_records_to_frame_end_to_end() -> None:
    fields = [field("n", "int", required=False), field("label", "str", default="none")]
    schema = RecordSchema(fields, id_field="rid")
    records, _ = schema.parse_json(b'[{"label": "a", "n": 1, "rid": 9}, {"rid": 10}]')

    frame = records_to_frame(records, fields, exclude="rid")

    assert list(frame.columns) == ["n", "label"]
    assert frame["label"].tolist() == ["a", "none"]
    assert frame["n"].iloc[0] == 1.0
    assert math.isnan(frame["n"].iloc[1])
