"""A corpus of bad requests against live `nervosum serve` processes.

Every bad request must get its documented status and the one JSON error shape
``{"error": {"type", "message", "details"}}``, with each bad field named by its ``loc``;
and after the whole corpus the servers still answer valid predictions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import (
    IRIS_SETOSA,
    IRIS_VIRGINICA,
    PROJECTS,
    LiveServer,
    MetricSamples,
    live_server,
    metric_samples,
)

pytestmark = pytest.mark.slow

JSON = "application/json"
MIB = 1024 * 1024
IRIS_FIELDS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ONE_OF_BODY = "expected a JSON object (one record) or an array of objects"
SETOSA_BYTES = json.dumps(IRIS_SETOSA).encode()

# A valid record for the `types` fixture (every schema type; note/level are optional).
TYPES_GOOD: dict[str, Any] = {
    "count": 3,
    "ratio": 0.5,
    "label": "a",
    "flag": True,
    "when": "2024-01-01T00:00:00Z",
    "tags": ["x", "y"],
    "extra": {"k": 1},
}
TYPES_FIELDS = ["count", "ratio", "label", "flag", "when", "tags", "extra", "note", "level"]


# --------------------------------------------------------------------------- helpers


def post(
    server: LiveServer,
    body: bytes | Iterator[bytes],
    content_type: str | None = JSON,
    path: str = "/predict",
) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    with server.client() as client:
        return client.post(path, content=body, headers=headers)


def post_json(server: LiveServer, payload: Any, path: str = "/predict") -> httpx.Response:
    return post(server, json.dumps(payload, ensure_ascii=False).encode(), path=path)


def assert_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The response is `status` with the JSON error shape of type `kind`; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    expected_keys = {"type", "message", "details"}
    if status == 500:
        expected_keys.add("error_id")
    assert set(error) == expected_keys, error
    assert error["type"] == kind, error
    assert isinstance(error["message"], str)
    assert error["message"].strip(), error
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg", "type"}, detail
        assert isinstance(detail["loc"], list)
        assert isinstance(detail["msg"], str)
        assert detail["msg"]
    return error


def locs(error: dict[str, Any]) -> list[list[Any]]:
    return [detail["loc"] for detail in error["details"]]


def _samples(server: LiveServer, sample_name: str) -> MetricSamples:
    with server.client() as client:
        return metric_samples(client, sample_name)


def error_counts(server: LiveServer) -> dict[tuple[str, str], float]:
    """nervosum_http_errors_total by (route, type)."""
    counts: dict[tuple[str, str], float] = {}
    for labels, value in _samples(server, "nervosum_http_errors_total").items():
        label = dict(labels)
        counts[(label["route"], label["type"])] = value
    return counts


def count_deltas(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    keys = set(before) | set(after)
    deltas = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in keys}
    return {key: delta for key, delta in deltas.items() if delta}


def iris_rows(count: int) -> list[dict[str, float]]:
    """Alternating setosa / virginica rows."""
    return [IRIS_SETOSA if i % 2 == 0 else IRIS_VIRGINICA for i in range(count)]


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def types_server() -> Iterator[LiveServer]:
    with live_server(PROJECTS / "types") as server:
        yield server


@pytest.fixture(scope="module")
def failing_server() -> Iterator[LiveServer]:
    with live_server(PROJECTS / "failing") as server:
        yield server


# --------------------------------------------------------------------------- valid answers


def test_iris_answers_setosa_and_virginica(iris_server: LiveServer) -> None:
    setosa = post_json(iris_server, IRIS_SETOSA)
    virginica = post_json(iris_server, IRIS_VIRGINICA)
    assert setosa.status_code == 200, setosa.text
    assert virginica.status_code == 200, virginica.text
    assert setosa.headers["content-type"] == JSON
    assert setosa.json()["prediction"] == 0
    assert virginica.json()["prediction"] == 2
    for answer in (setosa.json(), virginica.json()):
        assert set(answer) == {"prediction", "probabilities"}
        probabilities = answer["probabilities"]
        assert set(probabilities) == {"0", "1", "2"}
        assert sum(probabilities.values()) == pytest.approx(1.0)
    assert setosa.json()["probabilities"]["0"] > 0.9
    assert virginica.json()["probabilities"]["2"] > 0.9


def test_array_answer_has_same_length_and_order(iris_server: LiveServer) -> None:
    rows = [IRIS_SETOSA, IRIS_VIRGINICA, IRIS_VIRGINICA, IRIS_SETOSA, IRIS_VIRGINICA]
    response = post_json(iris_server, rows)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert isinstance(answers, list)
    assert [a["prediction"] for a in answers] == [0, 2, 2, 0, 2]
    singles = {0: post_json(iris_server, IRIS_SETOSA).json()}
    singles[2] = post_json(iris_server, IRIS_VIRGINICA).json()
    assert answers == [singles[a["prediction"]] for a in answers]


def test_large_array_parsed_off_the_loop_keeps_order(iris_server: LiveServer) -> None:
    rows = iris_rows(4000)
    body = json.dumps(rows).encode()
    assert len(body) > 256 * 1024  # above the inline-parse limit
    response = post(iris_server, body)
    assert response.status_code == 200, response.text
    predictions = [answer["prediction"] for answer in response.json()]
    assert predictions == [0 if i % 2 == 0 else 2 for i in range(4000)]


@pytest.mark.parametrize(
    "order",
    [
        sorted(IRIS_FIELDS),
        list(reversed(IRIS_FIELDS)),
        ["petal_width", "sepal_length", "petal_length", "sepal_width"],
    ],
    ids=["sorted", "reversed", "shuffled"],
)
def test_key_order_does_not_change_the_answer(iris_server: LiveServer, order: list[str]) -> None:
    expected = post_json(iris_server, IRIS_VIRGINICA).json()
    reordered = {name: IRIS_VIRGINICA[name] for name in order}
    assert list(reordered) == order != IRIS_FIELDS
    response = post(iris_server, json.dumps(reordered).encode())
    assert response.status_code == 200, response.text
    assert response.json() == expected
    assert response.json()["prediction"] == 2


@pytest.mark.parametrize(
    ("query", "has_probabilities"),
    [("", True), ("?proba=true", True), ("?proba=false", False), ("?proba=0", False)],
)
def test_proba_flag(iris_server: LiveServer, query: str, has_probabilities: bool) -> None:
    response = post_json(iris_server, [IRIS_SETOSA, IRIS_VIRGINICA], path="/predict" + query)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["prediction"] for a in answers] == [0, 2]
    if has_probabilities:
        assert all(set(a) == {"prediction", "probabilities"} for a in answers)
    else:
        assert answers == [{"prediction": 0}, {"prediction": 2}]


def test_empty_array_answers_empty_array(iris_server: LiveServer) -> None:
    response = post(iris_server, b"[]")
    assert response.status_code == 200, response.text
    assert response.json() == []


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ],
)
def test_json_bodies_under_accepted_content_types(
    iris_server: LiveServer, content_type: str | None
) -> None:
    response = post(iris_server, SETOSA_BYTES, content_type=content_type)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] == 0


# --------------------------------------------------------------------------- 400


@pytest.mark.parametrize(
    ("body", "message_start"),
    [
        (b'{"sepal_length": 5.1,', "body is not valid JSON: "),
        (b"{sepal_length: 5.1}", "body is not valid JSON: "),
        (b'{"sepal_length": 5.1}}', "body is not valid JSON: "),
        (SETOSA_BYTES + b"\n" + SETOSA_BYTES, "body is not valid JSON: "),
        (b"\xef\xbb\xbf" + SETOSA_BYTES, "body is not valid JSON: "),
        (b'{"sepal_length": "\xff\xfe"}', "body is not valid JSON: "),
        (b"", "request body is empty"),
        (b"  \n\t ", "request body is empty"),
    ],
    ids=[
        "truncated",
        "unquoted-keys",
        "trailing-brace",
        "two-documents",
        "utf8-bom",
        "invalid-utf8",
        "empty",
        "whitespace",
    ],
)
def test_unreadable_body_is_400(iris_server: LiveServer, body: bytes, message_start: str) -> None:
    error = assert_error(post(iris_server, body), 400, "bad_request")
    assert error["message"].startswith(message_start), error
    assert error["details"] == []


@pytest.mark.parametrize("depth", [100_000, 300_000], ids=["inline", "off-loop"])
@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_deep_nesting_is_400(iris_server: LiveServer, opener: bytes, depth: int) -> None:
    body = opener * (depth // len(opener))
    error = assert_error(post(iris_server, body), 400, "bad_request")
    assert error["message"].startswith("body is not valid JSON: recursion limit exceeded")


# --------------------------------------------------------------------------- 413


def test_10_mb_body_is_413(iris_server: LiveServer) -> None:
    rows = iris_rows(10 * MIB // len(SETOSA_BYTES) + 10)
    body = json.dumps(rows).encode()
    assert len(body) > 10 * MIB
    error = assert_error(post(iris_server, body), 413, "payload_too_large")
    assert error["message"].startswith("request body is larger than the 8388608 byte limit")
    assert error["details"] == []


def test_chunked_body_without_length_over_limit_is_413(iris_server: LiveServer) -> None:
    chunk = b" " * MIB

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(9):  # 9 MiB of whitespace inside an otherwise valid array
            yield chunk
        yield b"]"

    response = post(iris_server, chunks())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    error = assert_error(response, 413, "payload_too_large")
    assert "8388608 byte limit" in error["message"]


def test_chunked_body_under_limit_is_accepted(iris_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield SETOSA_BYTES[:10]
        yield SETOSA_BYTES[10:]

    response = post(iris_server, chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] == 0


def test_max_body_size_flag_lowers_the_limit() -> None:
    record = b'{"x": 1}'
    with live_server(PROJECTS / "failing", "--max-body-size", "1000") as server:
        two_kb = b"[" + b",".join([record] * 230) + b"]"
        assert 2000 <= len(two_kb) <= 2100
        error = assert_error(post(server, two_kb), 413, "payload_too_large")
        assert error["message"].startswith("request body is larger than the 1000 byte limit")

        def chunks() -> Iterator[bytes]:
            yield record
            yield b" " * 1500

        assert_error(post(server, chunks()), 413, "payload_too_large")
        exactly = record + b" " * (1000 - len(record))
        assert len(exactly) == 1000
        accepted = post(server, exactly)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"prediction": 10.0}
        assert_error(post(server, exactly + b" "), 413, "payload_too_large")


# --------------------------------------------------------------------------- 415


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("text/csv", b"sepal_length,sepal_width\n5.1,3.5\n", "content type 'text/csv'"),
        (
            "application/xml",
            b"<row><sepal_length>5.1</sepal_length></row>",
            "content type 'application/xml'",
        ),
        ("multipart/form-data; boundary=x", SETOSA_BYTES, "content type 'multipart/form-data'"),
        (
            "application/x-www-form-urlencoded",
            b"sepal_length=5.1&sepal_width=3.5",
            "form-encoded bodies are not supported",
        ),
        # JSON under the types a web page may post cross-site without a preflight.
        ("text/plain", SETOSA_BYTES, "content type 'text/plain'"),
        ("application/x-www-form-urlencoded", SETOSA_BYTES, "form-encoded bodies"),
    ],
    ids=["csv", "xml", "multipart", "form-fields", "text-plain-json", "form-json"],
)
def test_unsupported_media_type_is_415(
    iris_server: LiveServer, content_type: str, body: bytes, message: str
) -> None:
    error = assert_error(
        post(iris_server, body, content_type=content_type), 415, "unsupported_media_type"
    )
    assert error["message"].startswith(message), error
    assert error["details"] == []


# --------------------------------------------------------------------------- 422


@pytest.mark.parametrize(
    ("value", "detail_type"),
    [
        ('"abc"', "float_parsing"),
        ("[5.1]", "float_type"),
        ('{"v": 5.1}', "float_type"),
        ("null", "float_type"),
    ],
)
def test_wrong_type_is_422_with_loc(iris_server: LiveServer, value: str, detail_type: str) -> None:
    body = SETOSA_BYTES.replace(b"5.1", value.encode())
    error = assert_error(post(iris_server, body), 422, "validation_error")
    assert error["details"] == [
        {"loc": ["sepal_length"], "msg": error["details"][0]["msg"], "type": detail_type}
    ]
    assert error["message"].startswith("1 invalid field: sepal_length: ")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"inf"'])
def test_non_finite_float_is_422(iris_server: LiveServer, value: str) -> None:
    body = SETOSA_BYTES.replace(b"5.1", value.encode())
    error = assert_error(post(iris_server, body), 422, "validation_error")
    assert error["details"] == [
        {"loc": ["sepal_length"], "msg": "Input should be a finite number", "type": "finite_number"}
    ]


def test_missing_field_is_422(iris_server: LiveServer) -> None:
    record = {k: v for k, v in IRIS_SETOSA.items() if k != "petal_width"}
    error = assert_error(post_json(iris_server, record), 422, "validation_error")
    assert error["details"] == [
        {"loc": ["petal_width"], "msg": "required field is missing", "type": "missing"}
    ]
    assert error["message"] == "1 invalid field: petal_width: required field is missing"


def test_misspelt_field_gets_did_you_mean(iris_server: LiveServer) -> None:
    record = {**IRIS_SETOSA, "sepal_lenght": 5.1}
    error = assert_error(post_json(iris_server, record), 422, "validation_error")
    assert error["details"] == [
        {
            "loc": ["sepal_lenght"],
            "msg": "unknown field; did you mean 'sepal_length'?",
            "type": "extra_forbidden",
        }
    ]


def test_unknown_field_lists_the_expected_ones(iris_server: LiveServer) -> None:
    record = {**IRIS_SETOSA, "colour": "blue"}
    error = assert_error(post_json(iris_server, record), 422, "validation_error")
    assert error["details"] == [
        {
            "loc": ["colour"],
            "msg": "unknown field; expected: sepal_length, sepal_width, petal_length, petal_width",
            "type": "extra_forbidden",
        }
    ]


def test_misspelt_key_instead_of_the_right_one_reports_both(iris_server: LiveServer) -> None:
    record = {k: v for k, v in IRIS_SETOSA.items() if k != "sepal_length"}
    record["sepal_lenght"] = 5.1
    error = assert_error(post_json(iris_server, record), 422, "validation_error")
    assert sorted(map(tuple, locs(error))) == [("sepal_lenght",), ("sepal_length",)]


def test_several_bad_fields_are_all_listed(iris_server: LiveServer) -> None:
    record = {"sepal_length": "x", "sepal_width": None, "petal_length": 1, "petal_wdth": 2}
    error = assert_error(post_json(iris_server, record), 422, "validation_error")
    by_loc = {tuple(d["loc"]): d["type"] for d in error["details"]}
    assert by_loc == {
        ("sepal_length",): "float_parsing",
        ("sepal_width",): "float_type",
        ("petal_width",): "missing",
        ("petal_wdth",): "extra_forbidden",
    }
    assert error["message"].startswith("4 invalid fields: ")
    assert error["message"].endswith("(and 1 more)")


def test_bad_rows_in_an_array_are_located_by_index(iris_server: LiveServer) -> None:
    rows: list[Any] = [
        IRIS_SETOSA,
        {**IRIS_SETOSA, "petal_width": "wide"},
        IRIS_VIRGINICA,
        {"sepal_length": 1.0, "sepal_width": 1.0, "petal_length": 1.0},
        7,
    ]
    error = assert_error(post_json(iris_server, rows), 422, "validation_error")
    assert locs(error) == [[1, "petal_width"], [3, "petal_width"], [4]]
    assert error["details"][1]["msg"] == "required field is missing"
    assert error["details"][2]["msg"] == ONE_OF_BODY


def test_bad_row_deep_inside_a_large_array(iris_server: LiveServer) -> None:
    rows: list[Any] = iris_rows(4000)
    rows[3210] = {**IRIS_SETOSA, "sepal_width": "NaN"}
    body = json.dumps(rows).encode()
    assert len(body) > 256 * 1024
    error = assert_error(post(iris_server, body), 422, "validation_error")
    assert locs(error) == [[3210, "sepal_width"]]


@pytest.mark.parametrize("body", [b'"hello"', b"42", b"-1.5", b"null", b"true", b" null "])
def test_non_object_top_level_is_422(iris_server: LiveServer, body: bytes) -> None:
    error = assert_error(post(iris_server, body), 422, "validation_error")
    assert error["details"] == [{"loc": [], "msg": ONE_OF_BODY, "type": "dict_type"}]
    assert error["message"] == f"1 invalid field: body: {ONE_OF_BODY}"


# --------------------------------------------------------------------------- unicode, types


def test_unicode_string_values_are_accepted(types_server: LiveServer) -> None:
    note = "héllo wörld 日本語 🎉 Ελληνικά"
    record = {**TYPES_GOOD, "note": note, "tags": ["ü", "日"], "request_id": "réq-ü"}
    response = post_json(types_server, record)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["request_id"] == "réq-ü"
    dtypes, received_note, level = answer["summary"].split("|")
    assert received_note == note
    assert level == "3"  # the declared default
    assert re.findall(r"(?:^|,)(\w+):", dtypes) == TYPES_FIELDS


def test_escaped_unicode_is_decoded(types_server: LiveServer) -> None:
    body = json.dumps({**TYPES_GOOD, "note": "🎉é"}, ensure_ascii=True).encode()
    assert b"\\ud83c\\udf89" in body
    response = post(types_server, body)
    assert response.status_code == 200, response.text
    assert response.json()["summary"].split("|")[1] == "🎉é"


@pytest.mark.parametrize(
    ("key", "msg"),
    [
        ("ñandú", "unknown field; expected: " + ", ".join(TYPES_FIELDS)),
        ("nöte", "unknown field; did you mean 'note'?"),
        ("标签", "unknown field; expected: " + ", ".join(TYPES_FIELDS)),
    ],
)
def test_unicode_unknown_keys_are_422(types_server: LiveServer, key: str, msg: str) -> None:
    error = assert_error(post_json(types_server, {**TYPES_GOOD, key: 1}), 422, "validation_error")
    assert error["details"] == [{"loc": [key], "msg": msg, "type": "extra_forbidden"}]


def test_every_wrong_type_in_one_request_is_listed(types_server: LiveServer) -> None:
    record = {
        "count": "three",
        "ratio": "half",
        "label": "c",
        "flag": "maybe",
        "when": "yesterday",
        "tags": 1,
        "extra": [],
        "level": 2.5,
    }
    error = assert_error(post_json(types_server, record), 422, "validation_error")
    assert locs(error) == [
        ["count"],
        ["ratio"],
        ["label"],
        ["flag"],
        ["when"],
        ["tags"],
        ["extra"],
        ["level"],
    ]
    assert error["message"].startswith("8 invalid fields: count: ")
    assert error["message"].endswith("(and 5 more)")


@pytest.mark.parametrize(
    ("field", "value", "detail_type"),
    [
        ("count", 11, "less_than_equal"),
        ("count", -1, "greater_than_equal"),
        ("count", 3.5, "int_from_float"),
        ("label", "c", "literal_error"),
        ("flag", "maybe", "bool_parsing"),
    ],
)
def test_constraint_violations_are_422(
    types_server: LiveServer, field: str, value: Any, detail_type: str
) -> None:
    error = assert_error(
        post_json(types_server, {**TYPES_GOOD, field: value}), 422, "validation_error"
    )
    assert [(d["loc"], d["type"]) for d in error["details"]] == [([field], detail_type)]


@pytest.mark.parametrize(("field", "value"), [("tags", 1), ("extra", [])])
def test_wrong_container_field_message_describes_the_field(
    types_server: LiveServer, field: str, value: Any
) -> None:
    # A list/dict *field* with the wrong type must not be described as a bad request body.
    error = assert_error(
        post_json(types_server, {**TYPES_GOOD, field: value}), 422, "validation_error"
    )
    assert locs(error) == [[field]]
    msg = error["details"][0]["msg"]
    assert msg != ONE_OF_BODY
    expected = ("list", "array") if field == "tags" else ("dict", "object")
    assert any(word in msg for word in expected), msg


# --------------------------------------------------------------------------- 404, 405


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/predict/"),
        ("GET", "/predict/"),
        ("GET", "/docs/"),
        ("POST", "/v1/predict"),
    ],
)
def test_unknown_route_is_404_json_not_redirect(
    iris_server: LiveServer, method: str, path: str
) -> None:
    with iris_server.client() as client:
        response = client.request(
            method, path, content=SETOSA_BYTES, headers={"content-type": JSON}
        )
    error = assert_error(response, 404, "not_found")
    assert "location" not in response.headers
    assert error["message"] == f"no route {path} (hint: POST /predict; see /docs)"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_on_predict_is_405_with_allow(iris_server: LiveServer, method: str) -> None:
    with iris_server.client() as client:
        response = client.request(method, "/predict")
    error = assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert error["message"] == f"{method} is not allowed on /predict (hint: use POST)"


# --------------------------------------------------------------------------- metrics


def test_metrics_count_errors_by_type(iris_server: LiveServer) -> None:
    before = error_counts(iris_server)
    requests_before = _samples(iris_server, "nervosum_http_requests_total")

    assert post_json(iris_server, IRIS_SETOSA).status_code == 200
    assert post(iris_server, b"{").status_code == 400
    assert post(iris_server, b"").status_code == 400
    assert post_json(iris_server, {**IRIS_SETOSA, "sepal_length": "x"}).status_code == 422
    assert post_json(iris_server, [IRIS_SETOSA, {}]).status_code == 422
    assert post_json(iris_server, {**IRIS_SETOSA, "sepal_lenght": 1}).status_code == 422
    assert post(iris_server, b" " * (9 * MIB)).status_code == 413
    assert post(iris_server, b"a,b", content_type="text/csv").status_code == 415
    with iris_server.client() as client:
        assert client.get("/nope").status_code == 404
        assert client.post("/predict/", json=IRIS_SETOSA).status_code == 404
        assert client.get("/predict").status_code == 405

    assert count_deltas(before, error_counts(iris_server)) == {
        ("/predict", "bad_request"): 2,
        ("/predict", "validation_error"): 3,
        ("/predict", "payload_too_large"): 1,
        ("/predict", "unsupported_media_type"): 1,
        ("other", "not_found"): 2,
        ("/predict", "method_not_allowed"): 1,
    }
    requests_after = _samples(iris_server, "nervosum_http_requests_total")

    def predict_requests(samples: dict[Any, float], status: str) -> float:
        key = (("method", "POST"), ("model", "Iris"), ("route", "/predict"), ("status", status))
        return samples.get(key, 0.0)

    for status, count in [("200", 1), ("400", 2), ("422", 3), ("413", 1), ("415", 1)]:
        delta = predict_requests(requests_after, status) - predict_requests(requests_before, status)
        assert delta == count, status


# --------------------------------------------------------------------------- model failures


def test_id_field_is_echoed(failing_server: LiveServer) -> None:
    one = post_json(failing_server, {"x": 2, "ID": "abc"})
    assert one.status_code == 200, one.text
    assert one.json() == {"ID": "abc", "prediction": 20.0}
    many = post_json(failing_server, [{"ID": 7, "x": 3}, {"x": 4}, {"x": 0.5, "ID": "ü-1"}])
    assert many.status_code == 200, many.text
    assert many.json() == [
        {"ID": 7, "prediction": 30.0},
        {"prediction": 40.0},
        {"ID": "ü-1", "prediction": 5.0},
    ]


def test_bad_id_field_is_422(failing_server: LiveServer) -> None:
    error = assert_error(post_json(failing_server, {"x": 1, "ID": [1]}), 422, "validation_error")
    assert {d["loc"][0] for d in error["details"]} == {"ID"}


def test_model_invalid_input_error_is_422(failing_server: LiveServer) -> None:
    error = assert_error(post_json(failing_server, {"x": 2000}), 422, "invalid_input")
    assert error["message"] == "x above 1000 cannot be scored"
    assert error["details"] == [
        {"loc": ["x"], "msg": "x above 1000 cannot be scored", "type": "invalid_input"}
    ]


def test_model_returning_wrong_row_count_is_500_model_output(failing_server: LiveServer) -> None:
    error = assert_error(post_json(failing_server, [{"x": 13}, {"x": 1}]), 500, "model_output")
    assert re.fullmatch(r"[0-9a-f]{12}", error["error_id"])
    assert f"(error id {error['error_id']})" in error["message"]
    assert "1 values for 2 input rows" in error["message"]
    assert error["details"] == []


def test_model_failures_are_counted(failing_server: LiveServer) -> None:
    before = error_counts(failing_server)
    assert post_json(failing_server, {"x": -1}).status_code == 500
    assert post_json(failing_server, [{"x": 13}, {"x": 1}]).status_code == 500
    assert post_json(failing_server, {"x": 5000}).status_code == 422
    assert post_json(failing_server, {"x": 1}).status_code == 200
    assert count_deltas(before, error_counts(failing_server)) == {
        ("/predict", "prediction_error"): 1,
        ("/predict", "model_output"): 1,
        ("/predict", "invalid_input"): 1,
    }


def test_model_raising_is_500_with_error_id_in_the_log() -> None:
    with live_server(PROJECTS / "failing") as server:
        response = post_json(server, [{"x": 1}, {"x": -1, "ID": "neg"}])
        error = assert_error(response, 500, "prediction_error")
        error_id = error["error_id"]
        assert re.fullmatch(r"[0-9a-f]{12}", error_id)
        assert error["message"] == (
            "the model raised ValueError; the server log has the traceback "
            f"under error id {error_id}"
        )
        assert "negative x" not in error["message"]  # the exception text stays in the log
        output_error = assert_error(post_json(server, [{"x": 13}, {"x": 2}]), 500, "model_output")
        after = post_json(server, {"x": 1.5})
        assert after.status_code == 200
        assert after.json() == {"prediction": 15.0}
        log = server.output()  # the server writes unbuffered, so the lines are there already
    assert f"[error_id={error_id}]" in log
    assert "ValueError: negative x is not supported" in log
    assert f"[error_id={output_error['error_id']}]" in log
    assert log.count(error_id) == 1


# --------------------------------------------------------------------------- survival


def test_servers_survive_the_corpus(
    iris_server: LiveServer, types_server: LiveServer, failing_server: LiveServer
) -> None:
    for server in (iris_server, types_server, failing_server):
        assert server.process.poll() is None, "the server process died"
        with server.client() as client:
            assert client.get("/health/ready").status_code == 200
    setosa = post_json(iris_server, IRIS_SETOSA)
    assert setosa.status_code == 200
    assert setosa.json()["prediction"] == 0
    assert post_json(iris_server, [IRIS_VIRGINICA]).json()[0]["prediction"] == 2
    typed = post_json(types_server, TYPES_GOOD)
    assert typed.status_code == 200
    assert typed.json()["summary"].endswith("|None|3")
    assert post_json(failing_server, {"x": 3, "ID": 1}).json() == {"ID": 1, "prediction": 30.0}
