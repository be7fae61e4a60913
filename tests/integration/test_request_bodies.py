"""Request bodies on every route that takes records (issue 20, items 4, 9, 11, 14, 15 and
``server.max_rows``): non-finite numbers, nesting, CSV, content types, charsets,
compressed bodies and the row limit, in-process through Starlette's TestClient.

Each test here failed before the fix it guards: NaN inside an array was a 500 with a
traceback, a 990-level v2 ``data`` a RecursionError, CSV past 128 KiB a 500, gzip was
parsed as JSON, ``text/plain`` was read as JSON, no row limit existed, and ``/info``
showed pids and memory with ``errors.expose_details: false``.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from nervosum.config.spec import ServerSpec
from nervosum.engine import Engine
from nervosum.project import load_config
from nervosum.serving.app import create_app
from nervosum.training.artifact import save_artifact
from nervosum.training.run import train_project
from tests.conftest import EXAMPLES, IRIS_SETOSA, IRIS_VIRGINICA
from tests.unit.test_training_run import write_project

FIELDS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
JSON_TYPE = {"content-type": "application/json"}
SETOSA = json.dumps(IRIS_SETOSA).encode()
INFER = "/v2/models/Iris/infer"
PREDICT_V1 = "/v1/models/Iris:predict"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(load_config(EXAMPLES / "iris"))


def client_for(engine: Engine, **settings: Any) -> TestClient:
    """An in-process iris server with ``server:`` settings changed."""
    app = create_app(engine.project, ServerSpec(**settings), engine=engine)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    with client_for(engine) as test_client:
        yield test_client


def body_with(value: str, row: int = 1) -> dict[str, bytes]:
    """The same two-row request in each protocol, ``value`` (raw JSON) as row ``row``'s
    sepal_width."""
    rows = [dict(IRIS_SETOSA), dict(IRIS_VIRGINICA)]
    rows[row]["sepal_width"] = "VALUE"  # type: ignore[assignment]
    records = json.dumps(rows)
    positional = json.dumps([[r[f] for f in FIELDS] for r in rows])
    tensor = {"name": "input", "shape": [2, 4], "datatype": "FP64", "data": "DATA"}
    v2 = json.dumps({"inputs": [tensor]}).replace('"DATA"', positional)
    return {
        "/predict": records.replace('"VALUE"', value).encode(),
        INFER: v2.replace('"VALUE"', value).encode(),
        PREDICT_V1: ('{"instances": ' + records + "}").replace('"VALUE"', value).encode(),
        "/invocations": ('{"dataframe_records": ' + records + "}")
        .replace('"VALUE"', value)
        .encode(),
    }


def error_text(path: str, answer: Any) -> str:
    """The message of an error body, whatever the route's protocol."""
    if path in ("/predict", "/feedback") or path.startswith("/api/"):
        return str(answer["error"]["message"])
    if path == "/invocations":
        return str(answer["message"])
    return str(answer["error"])


# ---------------------------------------------------------------- item 4: NaN, Infinity


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("path", ["/predict", INFER, PREDICT_V1, "/invocations"])
def test_non_finite_number_in_an_array_names_row_and_field(
    client: TestClient, path: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nervosum")
    response = client.post(path, content=body_with(value)[path], headers=JSON_TYPE)
    # MLflow's protocol reports schema violations as 400 BAD_REQUEST.
    assert response.status_code == (400 if path == "/invocations" else 422), response.text
    assert "1.sepal_width: Input should be a finite number" in error_text(path, response.json())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------- item 11: bounded parsing


def test_deeply_nested_v2_data_is_400_without_a_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    depth = 990
    data = "[" * depth + "1" + "]" * depth
    body = '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": ' + data
    response = client.post(INFER, content=(body + "}]}").encode(), headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("body is not valid JSON: recursion limit exceeded")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_csv_field_over_128_kib_is_413_naming_the_line(client: TestClient) -> None:
    body = ",".join(FIELDS) + "\n5.1,3.5,1.4,0.2\n5.1,3.5,1.4," + "9" * 140_000 + "\n"
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 413, response.text
    assert response.json()["message"].startswith(
        "CSV line 3 holds a field over the 131072 character limit"
    )


def test_extra_csv_values_are_named_not_none_keys(client: TestClient) -> None:
    body = ",".join(FIELDS) + "\n5.1,3.5,1.4,0.2\n5.1,3.5,1.4,0.2,7\n"
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["message"].startswith("CSV line 3 has 5 values; the header names 4 columns")
    assert answer["details"][0]["loc"] == [1]
    assert "None" not in response.text


def test_short_csv_lines_and_blank_lines_read_as_before(client: TestClient) -> None:
    body = ",".join(FIELDS) + "\n5.1,3.5,1.4,0.2\n\n6.3,3.3\n"
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 400, response.text
    assert [d["loc"] for d in response.json()["details"]] == [
        [1, "petal_length"],
        [1, "petal_width"],
    ]


# --------------------------------------------------------------- item 9: content types


@pytest.mark.parametrize("path", ["/predict", INFER, PREDICT_V1, "/invocations", "/feedback"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded"]
)
def test_types_a_web_page_may_post_cross_site_are_415(
    client: TestClient, path: str, content_type: str
) -> None:
    body = body_with("3.5")[path] if path != "/feedback" else b'{"id": "a", "label": 0}'
    response = client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 415, response.text
    message = error_text(path, response.json())
    if "form" in content_type:
        assert message.startswith("form-encoded bodies are not supported"), message
        assert "content-type: application/json" in message
    else:
        assert message.startswith("content type 'text/plain' is not supported; this route takes")
        assert "application/json, application/*+json" in message


@pytest.mark.parametrize("content_type", [None, "application/json", "application/problem+json"])
@pytest.mark.parametrize("path", ["/predict", INFER, PREDICT_V1, "/invocations"])
def test_json_types_and_no_type_are_read(
    client: TestClient, path: str, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(path, content=body_with("3.0")[path], headers=headers)
    assert response.status_code == 200, response.text


def test_text_plain_is_read_as_json_behind_the_compat_switch(engine: Engine) -> None:
    with client_for(engine, json_text_plain=True) as client:
        for path, body in body_with("3.0").items():
            response = client.post(path, content=body, headers={"content-type": "text/plain"})
            assert response.status_code == 200, (path, response.text)


def test_csv_stays_accepted_on_invocations_only(client: TestClient) -> None:
    body = ",".join(FIELDS) + "\n5.1,3.5,1.4,0.2\n"
    csv_type = {"content-type": "text/csv"}
    assert client.post("/invocations", content=body, headers=csv_type).status_code == 200
    assert client.post("/predict", content=body, headers=csv_type).status_code == 415


# ---------------------------------------------------------- item 14: encodings, charsets


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate"])
@pytest.mark.parametrize("path", ["/predict", INFER, PREDICT_V1, "/invocations"])
def test_compressed_bodies_are_inflated(client: TestClient, path: str, coding: str) -> None:
    body = body_with("3.0")[path]
    packed = zlib.compress(body) if coding == "deflate" else gzip.compress(body)
    headers = {**JSON_TYPE, "content-encoding": coding}
    response = client.post(path, content=packed, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == client.post(path, content=body, headers=JSON_TYPE).json()


def test_compressed_csv_is_inflated(client: TestClient) -> None:
    body = (",".join(FIELDS) + "\n5.1,3.5,1.4,0.2\n").encode()
    headers = {"content-type": "text/csv", "content-encoding": "gzip"}
    response = client.post("/invocations", content=gzip.compress(body), headers=headers)
    assert response.json() == {"predictions": [0]}


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip"])
def test_other_content_encodings_are_415(client: TestClient, coding: str) -> None:
    headers = {**JSON_TYPE, "content-encoding": coding}
    response = client.post("/predict", content=gzip.compress(SETOSA), headers=headers)
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["message"] == (
        f"content encoding {coding!r} is not supported (hint: send the body as is, or"
        " compressed once with one of: gzip, x-gzip, deflate)"
    )


def test_inflated_size_is_bounded_by_max_body_size(engine: Engine) -> None:
    # 2 KiB of gzip that inflates to 2 MiB: small on the wire, over a 1 MiB limit.
    bomb = gzip.compress(b"[" + b" " * (2 * 1024 * 1024) + b"]")
    assert len(bomb) < 4096
    with client_for(engine, max_body_size=1024 * 1024) as client:
        response = client.post(
            "/predict", content=bomb, headers={**JSON_TYPE, "content-encoding": "gzip"}
        )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"].startswith(
        "inflated request body is larger than the 1048576 byte limit"
    )


@pytest.mark.parametrize(
    ("packed", "message"),
    [
        (gzip.compress(SETOSA)[:-12], "the gzip body is truncated"),
        (b"not gzip at all", "the gzip body cannot be inflated: Error -3"),
        (gzip.compress(SETOSA) + b"tail", "the gzip body has data after its end"),
    ],
    ids=["truncated", "not-gzip", "trailing-bytes"],
)
def test_broken_gzip_is_400(client: TestClient, packed: bytes, message: str) -> None:
    headers = {**JSON_TYPE, "content-encoding": "gzip"}
    response = client.post("/predict", content=packed, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(message)


@pytest.mark.parametrize("charset", ["utf-16", "UTF-16LE", '"utf-16"', "utf-32"])
@pytest.mark.parametrize("path", ["/predict", INFER, PREDICT_V1, "/invocations"])
def test_the_charset_of_the_content_type_is_honoured(
    client: TestClient, path: str, charset: str
) -> None:
    # In UTF-16 the body is unreadable JSON unless it is decoded first.
    body = body_with("3.0")[path].decode()
    headers = {"content-type": f"application/json; charset={charset}"}
    response = client.post(path, content=body.encode(charset.strip('"')), headers=headers)
    assert response.status_code == 200, response.text


def test_a_latin_1_string_value_arrives_as_the_same_text(client: TestClient) -> None:
    # Read as UTF-8, the lone byte \xe9 would make it unreadable (400); decoded, the value
    # is a string in a float field (422).
    body = '[{"sepal_length": "caf\u00e9", "sepal_width": 3, "petal_length": 1, "petal_width": 0}]'
    headers = {"content-type": "application/json; charset=iso-8859-1"}
    response = client.post("/predict", content=body.encode("latin-1"), headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == [0, "sepal_length"]


@pytest.mark.parametrize(
    ("charset", "named"), [("klingon", "klingon"), ("base64", "base64"), ("rot13", "rot-13")]
)
def test_unknown_charsets_are_415(client: TestClient, charset: str, named: str) -> None:
    headers = {"content-type": f"application/json; charset={charset}"}
    response = client.post("/predict", content=SETOSA, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["message"] == (
        f"charset {named!r} is not supported (hint: send the body in UTF-8)"
    )


def test_bytes_invalid_in_the_charset_are_400(client: TestClient) -> None:
    headers = {"content-type": "application/json; charset=ascii"}
    response = client.post("/predict", content=SETOSA[:-1] + b"\xe9}", headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("body is not valid ascii")


# ------------------------------------------------------------------- server.max_rows


@pytest.mark.parametrize("path", ["/predict", INFER, PREDICT_V1, "/invocations"])
def test_more_rows_than_max_rows_is_413_naming_the_limit(engine: Engine, path: str) -> None:
    with client_for(engine, max_rows=1) as client:
        response = client.post(path, content=body_with("3.0")[path], headers=JSON_TYPE)
        assert response.status_code == 413, response.text
        assert error_text(path, response.json()).startswith(
            "the request holds 2 rows; the limit is 1 rows per request"
        )
        csv = ",".join(FIELDS) + "\n5.1,3.5,1.4,0.2\n"
        single = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
        assert single.status_code == 200, single.text
        double = client.post(
            "/invocations", content=csv + "6.3,3.3,6.0,2.5\n", headers={"content-type": "text/csv"}
        )
        assert double.status_code == 413, double.text


def test_max_rows_refuses_before_the_model_is_called(engine: Engine) -> None:
    with client_for(engine, max_rows=2) as client:
        assert client.post("/predict", json=[IRIS_SETOSA] * 3).status_code == 413
        assert client.post("/predict", json=[IRIS_SETOSA] * 2).status_code == 200
        metrics = client.get("/metrics").text
    assert 'nervosum_batch_size_sum{model="Iris"} 2.0' in metrics  # only the two rows


# ------------------------------------------------- template routes (nervosum train)


@pytest.fixture(scope="module")
def trained_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = write_project(tmp_path_factory.mktemp("trained"))
    save_artifact(train_project(folder).artifact, folder / "model_bin" / "model.joblib")
    (folder / "nervosum.yaml").write_text(
        "name: tiny\ntag: v3\nmodel: {artifact: model_bin/model.joblib}\n"
        "input_schema:\n  - {name: x, type: float}\n  - {name: n, type: int}\n",
        encoding="utf-8",
    )
    engine = Engine.load(load_config(folder))
    app = create_app(engine.project, ServerSpec(max_rows=2), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("route", ["/api/predictions", "/api/proba_predictions"])
def test_template_routes_name_the_row_of_a_non_finite_number(
    trained_client: TestClient, route: str
) -> None:
    body = b'[{"x": 1.0, "n": 1}, {"x": NaN, "n": 2}]'
    response = trained_client.post(route, content=body, headers=JSON_TYPE)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == [1, "x"]
    three = trained_client.post(route, json=[{"x": 1.0, "n": 1}] * 3)
    assert three.status_code == 413, three.text
    plain = trained_client.post(
        route, content=b'[{"x": 1.0, "n": 1}]', headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 415, plain.text


# ---------------------------------------------------- item 15: what each route shows


def _hidden_project(tmp_path: Path) -> Path:
    target = tmp_path / "iris"
    shutil.copytree(EXAMPLES / "iris", target, ignore=shutil.ignore_patterns("__pycache__"))
    with (target / "nervosum.yaml").open("a", encoding="utf-8") as config:
        config.write("\nerrors:\n  expose_details: false\n")
    return target


INTROSPECTION = ["/info", "/metadata", "/schema", "/openapi.json", "/", "/v2", "/v2/models/Iris"]


def test_expose_details_false_keeps_schemas_and_hides_processes_and_paths(
    tmp_path: Path,
) -> None:
    folder = _hidden_project(tmp_path)
    engine = Engine.load(load_config(folder))
    secrets = [str(folder), str(tmp_path), sys.prefix, "model.model", '"pid"', "rss_bytes"]
    with TestClient(create_app(engine.project, engine=engine)) as client:
        for path in INTROSPECTION:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            for secret in secrets:
                assert secret not in response.text, (path, secret)
        info = client.get("/info").json()
        assert info["input_schema"][0] == {"name": "sepal_length", "type": "float"}
        assert info["server"] == {"batching": True}
        assert client.get("/schema").json()["input_schema"][0]["name"] == "sepal_length"
        assert "Input" in client.get("/openapi.json").json()["components"]["schemas"]


def test_expose_details_true_shows_the_workers(client: TestClient) -> None:
    server = client.get("/info").json()["server"]
    assert server["pid"] == os.getpid()
    assert server["workers"][0]["rss_bytes"] > 0
