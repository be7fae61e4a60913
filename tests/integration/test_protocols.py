"""The standard inference protocols against live `nervosum serve` processes.

Open Inference Protocol v2 is driven by the real ``tritonclient.http`` client (binary
tensors included) plus hand-built requests; MLflow ``/invocations`` gets payloads built
by pandas exactly as MLflow clients build them; KServe v1 ``:predict`` gets records and
positional rows. Every protocol must agree with the native ``POST /predict``, be counted
in ``/metrics`` under its route template, and go through the batcher.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from sklearn.datasets import load_iris
from tritonclient.utils import InferenceServerException

import nervosum
from tests.conftest import (
    IRIS_SETOSA,
    IRIS_VIRGINICA,
    LiveServer,
    ProjectFactory,
    live_server,
    metric_samples,
)

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [IRIS_SETOSA, IRIS_VIRGINICA]
POSITIONAL = [[row[f] for f in FEATURES] for row in ROWS]
EXPECTED = [0, 2]
TAG = "v0.0.1"
INFER = "/v2/models/Iris/infer"
PREDICT_V1 = "/v1/models/Iris:predict"

METADATA = {
    "name": "Iris",
    "versions": [TAG],
    "platform": "nervosum",
    "inputs": [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES],
    "outputs": [{"name": "prediction", "datatype": "INT64", "shape": [-1]}],
}
PREDICTION_TENSOR = {"name": "prediction", "datatype": "INT64", "shape": [2], "data": EXPECTED}
V2_ANSWER = {"model_name": "Iris", "model_version": TAG, "outputs": [PREDICTION_TENSOR]}

Key = TypeVar("Key")


# --------------------------------------------------------------------------- helpers


def frame(rows: list[dict[str, float]] = ROWS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FEATURES)


def matrix_request(rows: list[list[float]] = POSITIONAL) -> dict[str, Any]:
    """A v2 JSON request with one [N, 4] FP64 tensor in schema order."""
    shape = [len(rows), len(FEATURES)]
    return {"inputs": [{"name": "input", "shape": shape, "datatype": "FP64", "data": rows}]}


def column_tensors(rows: list[dict[str, Any]], datatype: str = "FP64") -> list[dict[str, Any]]:
    return [
        {"name": f, "shape": [len(rows)], "datatype": datatype, "data": [r[f] for r in rows]}
        for f in FEATURES
    ]


def hostport(server: LiveServer) -> str:
    return server.url.removeprefix("http://")


def assert_v2_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """A v2 error: `status`, JSON `{"error": "<message>"}`; the message names `fragments`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"], body
    message = body["error"]
    assert isinstance(message, str)
    assert message.strip()
    for fragment in fragments:
        assert fragment in message, message
    return message


def assert_mlflow_error(response: httpx.Response, *fragments: str) -> dict[str, Any]:
    """An MLflow error: 400, JSON `{"error_code": "BAD_REQUEST", "message": ...}`."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) in ({"error_code", "message"}, {"error_code", "message", "details"}), body
    assert body["error_code"] == "BAD_REQUEST"
    assert isinstance(body["message"], str)
    assert body["message"].strip()
    for fragment in fragments:
        assert fragment in body["message"], body
    return body


def deltas(before: dict[Key, float], after: dict[Key, float]) -> dict[Key, float]:
    """The counters that moved from `before` to `after`, by how much."""
    changed = {key: after[key] - before.get(key, 0.0) for key in after}
    return {key: value for key, value in changed.items() if value}


def request_counts(client: httpx.Client) -> dict[tuple[str, str, str], float]:
    """nervosum_http_requests_total by (route, method, status)."""
    counts = {}
    for labels, value in metric_samples(client, "nervosum_http_requests_total").items():
        label = dict(labels)
        assert label["model"] == "Iris"
        counts[(label["route"], label["method"], label["status"])] = value
    return counts


def error_counts(client: httpx.Client) -> dict[tuple[str, str], float]:
    """nervosum_http_errors_total by (route, type)."""
    counts = {}
    for labels, value in metric_samples(client, "nervosum_http_errors_total").items():
        label = dict(labels)
        counts[(label["route"], label["type"])] = value
    return counts


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def http(iris_server: LiveServer) -> Iterator[httpx.Client]:
    with iris_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def tclient(iris_server: LiveServer) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(hostport(iris_server))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def iris_sample() -> list[dict[str, float]]:
    """Every 7th iris flower (all three classes), as records."""
    data = load_iris()
    table = pd.DataFrame(data.data, columns=FEATURES).iloc[::7]
    assert set(data.target[::7]) == {0, 1, 2}
    return table.to_dict(orient="records")


# --------------------------------------------------------------------------- v2: health, metadata


def test_v2_health_and_readiness(tclient: triton.InferenceServerClient) -> None:
    assert tclient.is_server_live() is True
    assert tclient.is_server_ready() is True
    assert tclient.is_model_ready("Iris") is True
    assert tclient.is_model_ready("iris") is True
    assert tclient.is_model_ready("Iris", model_version=TAG) is True
    assert tclient.is_model_ready("Iris", model_version="v9") is False
    assert tclient.is_model_ready("Nope") is False


def test_v2_model_metadata(tclient: triton.InferenceServerClient, http: httpx.Client) -> None:
    assert tclient.get_model_metadata("Iris") == METADATA
    assert tclient.get_model_metadata("Iris", model_version=TAG) == METADATA
    response = http.get(f"/v2/models/Iris/versions/{TAG}")
    assert response.status_code == 200
    assert response.json() == METADATA


def test_v2_server_metadata(tclient: triton.InferenceServerClient, http: httpx.Client) -> None:
    expected = {
        "name": "nervosum",
        "version": nervosum.__version__,
        "extensions": ["binary_tensor_data"],
    }
    assert tclient.get_server_metadata() == expected
    assert http.get("/v2").json() == expected
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}


def test_v2_unknown_model_metadata_is_404(
    tclient: triton.InferenceServerClient, http: httpx.Client
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        tclient.get_model_metadata("Nope")
    assert caught.value.status() == "404"
    assert "Nope" in caught.value.message()
    assert_v2_error(http.get("/v2/models/Nope"), 404, "'Nope'", "'Iris'")
    assert_v2_error(http.get("/v2/models/Nope/ready"), 404, "'Nope'")
    assert_v2_error(http.get("/v2/models/Iris/versions/v9"), 404, "'v9'", TAG)
    assert_v2_error(http.get("/v2/models/Iris/versions/v9/ready"), 404, "'v9'")


# --------------------------------------------------------------------------- v2: inference


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_v2_infer_one_matrix_tensor(tclient: triton.InferenceServerClient, binary: bool) -> None:
    data = np.array(POSITIONAL, dtype=np.float32)
    tensor = triton.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=binary)
    if binary:  # the data really travels as raw bytes after the JSON header
        assert tensor._get_tensor()["parameters"] == {"binary_data_size": data.nbytes}
    else:
        assert "parameters" not in tensor._get_tensor()
    result = tclient.infer("Iris", [tensor])
    assert result.get_response() == V2_ANSWER
    prediction = result.as_numpy("prediction")
    assert prediction.dtype == np.int64
    assert prediction.tolist() == EXPECTED


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_v2_infer_one_tensor_per_column(
    tclient: triton.InferenceServerClient, binary: bool
) -> None:
    tensors = []
    for name in FEATURES:
        column = np.array([row[name] for row in ROWS], dtype=np.float64)
        tensor = triton.InferInput(name, [len(ROWS)], "FP64")
        tensor.set_data_from_numpy(column, binary_data=binary)
        tensors.append(tensor)
    result = tclient.infer("Iris", tensors, request_id="req-7")
    assert result.get_response() == {**V2_ANSWER, "id": "req-7"}
    assert result.as_numpy("prediction").tolist() == EXPECTED


def test_v2_infer_with_version(tclient: triton.InferenceServerClient) -> None:
    data = np.array(POSITIONAL, dtype=np.float64)
    tensor = triton.InferInput("input", list(data.shape), "FP64")
    tensor.set_data_from_numpy(data)
    result = tclient.infer("Iris", [tensor], model_version=TAG)
    assert result.as_numpy("prediction").tolist() == EXPECTED
    with pytest.raises(InferenceServerException) as caught:
        tclient.infer("Iris", [tensor], model_version="v9")
    assert caught.value.status() == "404"


def test_v2_requested_outputs_with_probabilities(tclient: triton.InferenceServerClient) -> None:
    data = np.array(POSITIONAL, dtype=np.float32)
    tensor = triton.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    outputs = [
        triton.InferRequestedOutput("prediction"),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = tclient.infer("Iris", [tensor], outputs=outputs)
    names = [o["name"] for o in result.get_response()["outputs"]]
    assert names == ["prediction", "probabilities"]
    assert result.as_numpy("prediction").tolist() == EXPECTED
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert probabilities.dtype == np.float64
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert probabilities.argmax(axis=1).tolist() == EXPECTED
    described = result.get_output("probabilities")
    assert described["datatype"] == "FP64"
    assert described["shape"] == [2, 3]
    assert described["parameters"] == {"classes": "0,1,2"}


def test_v2_probabilities_only_on_request(tclient: triton.InferenceServerClient) -> None:
    data = np.array(POSITIONAL, dtype=np.float64)
    tensor = triton.InferInput("input", list(data.shape), "FP64")
    tensor.set_data_from_numpy(data)
    result = tclient.infer("Iris", [tensor])
    assert result.as_numpy("probabilities") is None
    only = tclient.infer("Iris", [tensor], outputs=[triton.InferRequestedOutput("probabilities")])
    assert [o["name"] for o in only.get_response()["outputs"]] == ["probabilities"]
    assert only.as_numpy("prediction") is None


def test_v2_version_urls_over_raw_http(http: httpx.Client) -> None:
    base = f"/v2/models/Iris/versions/{TAG}"
    ready = http.get(f"{base}/ready")
    assert ready.status_code == 200
    assert ready.json() == {"name": "Iris", "ready": True}
    response = http.post(f"{base}/infer", json=matrix_request())
    assert response.status_code == 200, response.text
    assert response.json() == V2_ANSWER
    lower = http.post(f"/v2/models/iris/versions/{TAG}/infer", json=matrix_request())
    assert lower.json() == V2_ANSWER
    assert_v2_error(
        http.post("/v2/models/Iris/versions/v9/infer", json=matrix_request()), 404, "'v9'"
    )


def test_v2_nested_and_column_json_over_raw_http(http: httpx.Client) -> None:
    nested = http.post(INFER, json=matrix_request())
    flat = matrix_request()
    flat["inputs"][0]["data"] = [v for row in POSITIONAL for v in row]
    flattened = http.post(INFER, json=flat)
    columns = http.post(INFER, json={"inputs": column_tensors(ROWS)})
    tall = column_tensors(ROWS)
    for tensor in tall:  # [N, 1] per column is accepted too
        tensor["shape"] = [2, 1]
        tensor["data"] = [[v] for v in tensor["data"]]
    column_vectors = http.post(INFER, json={"inputs": tall})
    for response in (nested, flattened, columns, column_vectors):
        assert response.status_code == 200, response.text
        assert response.json() == V2_ANSWER


def test_v2_hand_built_binary_request(http: httpx.Client) -> None:
    values = [v for row in POSITIONAL for v in row]
    raw = struct.pack(f"<{len(values)}d", *values)
    assert len(raw) == 8 * 8
    header = json.dumps(
        {
            "id": "bin-1",
            "inputs": [
                {
                    "name": "input",
                    "shape": [2, 4],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "prediction", "parameters": {"binary_data": False}}],
        }
    ).encode()
    response = http.post(
        INFER,
        content=header + raw,
        headers={
            "content-type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header)),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {**V2_ANSWER, "id": "bin-1"}


def test_v2_hand_built_binary_per_column_request(http: httpx.Client) -> None:
    """One little-endian FP64 chunk per column, in the order the header lists the tensors."""
    tensors, chunks = [], []
    for name in FEATURES:
        chunk = struct.pack("<2d", *(row[name] for row in ROWS))
        chunks.append(chunk)
        tensors.append(
            {
                "name": name,
                "shape": [2],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(chunk)},
            }
        )
    header = json.dumps({"inputs": tensors}).encode()
    headers = {
        "content-type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    response = http.post(INFER, content=header + b"".join(chunks), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == V2_ANSWER


# --------------------------------------------------------------------------- v2: errors


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        pytest.param(
            {"inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP64", "data": [1] * 6}]},
            ["[2, 3]", "[N, 4]"],
            id="wrong-shape",
        ),
        pytest.param(
            {"inputs": [{"name": "bogus", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            ["unknown input", "bogus"],
            id="unknown-tensor-name",
        ),
        pytest.param(
            {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64", "data": [1, 2]}]},
            ["[2, 4]", "2 values"],
            id="shape-data-mismatch",
        ),
        pytest.param(
            {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP99", "data": [1] * 4}]},
            ["FP99"],
            id="unknown-datatype",
        ),
        pytest.param({"inputs": []}, ["inputs"], id="no-inputs"),
        pytest.param({"outputs": []}, ["inputs"], id="missing-inputs"),
        pytest.param(
            {
                "inputs": [
                    {"name": "sepal_length", "shape": [2], "datatype": "FP64", "data": [1, 2]},
                    {"name": "sepal_width", "shape": [1], "datatype": "FP64", "data": [1]},
                ]
            },
            ["batch sizes"],
            id="different-batch-sizes",
        ),
        pytest.param([1, 2], ["JSON object"], id="not-an-object"),
    ],
)
def test_v2_bad_requests_are_400(http: httpx.Client, payload: Any, fragments: list[str]) -> None:
    assert_v2_error(http.post(INFER, json=payload), 400, *fragments)


def test_v2_malformed_json_is_400(http: httpx.Client) -> None:
    response = http.post(
        INFER, content=b'{"inputs": [', headers={"content-type": "application/json"}
    )
    assert_v2_error(response, 400, "not valid JSON")


def test_v2_unknown_model_infer_is_404(
    tclient: triton.InferenceServerClient, http: httpx.Client
) -> None:
    assert_v2_error(http.post("/v2/models/Nope/infer", json=matrix_request()), 404, "'Nope'")
    tensor = triton.InferInput("input", [2, 4], "FP64")
    tensor.set_data_from_numpy(np.array(POSITIONAL, dtype=np.float64))
    with pytest.raises(InferenceServerException) as caught:
        tclient.infer("Nope", [tensor])
    assert caught.value.status() == "404"


def test_v2_unknown_requested_output_is_404(http: httpx.Client) -> None:
    payload = {**matrix_request(), "outputs": [{"name": "nope"}]}
    assert_v2_error(http.post(INFER, json=payload), 404, "nope", "prediction")


def test_v2_bytes_tensor_of_non_numbers_is_422(
    tclient: triton.InferenceServerClient, http: httpx.Client
) -> None:
    words = [dict.fromkeys(FEATURES, "abc")]
    message = assert_v2_error(
        http.post(INFER, json={"inputs": column_tensors(words, "BYTES")}), 422, "sepal_length"
    )
    assert "valid number" in message
    # The same through tritonclient, BYTES in the binary extension's length-prefixed form.
    tensors = []
    for name in FEATURES:
        tensor = triton.InferInput(name, [1], "BYTES")
        tensor.set_data_from_numpy(np.array([b"abc"], dtype=np.object_), binary_data=True)
        tensors.append(tensor)
    with pytest.raises(InferenceServerException) as caught:
        tclient.infer("Iris", tensors)
    assert caught.value.status() == "422"
    assert "valid number" in caught.value.message()


def test_v2_bytes_tensor_of_numeric_strings_is_accepted(
    tclient: triton.InferenceServerClient,
) -> None:
    tensors = []
    for name in FEATURES:
        column = np.array([str(row[name]).encode() for row in ROWS], dtype=np.object_)
        tensor = triton.InferInput(name, [2], "BYTES")
        tensor.set_data_from_numpy(column, binary_data=True)
        tensors.append(tensor)
    assert tclient.infer("Iris", tensors).as_numpy("prediction").tolist() == EXPECTED


@pytest.mark.parametrize(
    ("shape", "parameters", "raw"),
    [
        pytest.param(["x", 4], None, None, id="non-integer-shape"),
        pytest.param([1, 4], {"binary_data_size": "abc"}, b"", id="non-integer-binary-size"),
        pytest.param([1, 4], {"binary_data_size": 7}, bytes(7), id="binary-size-not-whole-fp64"),
    ],
)
def test_v2_malformed_tensor_descriptions_are_400_not_500(
    http: httpx.Client, shape: list[Any], parameters: dict[str, Any] | None, raw: bytes | None
) -> None:
    tensor: dict[str, Any] = {"name": "input", "shape": shape, "datatype": "FP64"}
    if parameters is None:
        tensor["data"] = [1.0, 2.0, 3.0, 4.0]
    else:
        tensor["parameters"] = parameters
    header = json.dumps({"inputs": [tensor]}).encode()
    response = http.post(
        INFER,
        content=header + (raw or b""),
        headers={
            "content-type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header)),
        },
    )
    assert_v2_error(response, 400, "'input'")


def test_v2_empty_batch_answers_empty_requested_output(http: httpx.Client) -> None:
    """Like `POST /predict []` -> `[]`: zero rows give a zero-length `prediction` tensor."""
    payload = {
        "inputs": [{"name": "input", "shape": [0, 4], "datatype": "FP64", "data": []}],
        "outputs": [{"name": "prediction"}],
    }
    response = http.post(INFER, json=payload)
    assert response.status_code == 200, response.text
    [tensor] = response.json()["outputs"]
    assert (tensor["name"], tensor["shape"], tensor["data"]) == ("prediction", [0], [])


# --------------------------------------------------------------------------- MLflow


def _mlflow_payloads() -> list[Any]:
    df = frame()
    reordered = df[list(reversed(FEATURES))]
    return [
        pytest.param({"dataframe_split": df.to_dict(orient="split")}, id="dataframe_split"),
        pytest.param(
            {"dataframe_split": reordered.to_dict(orient="split")}, id="dataframe_split-reordered"
        ),
        pytest.param(
            {"dataframe_split": df.to_dict(orient="split"), "params": {"threshold": 0.5}},
            id="dataframe_split-params",
        ),
        pytest.param({"dataframe_records": df.to_dict(orient="records")}, id="dataframe_records"),
        pytest.param({"instances": df.to_dict(orient="records")}, id="instances-records"),
        pytest.param({"instances": df.to_numpy().tolist()}, id="instances-positional"),
        pytest.param({"inputs": df.to_dict(orient="list")}, id="inputs-columns"),
        pytest.param({"inputs": df.to_numpy().tolist()}, id="inputs-positional"),
        pytest.param({"inputs": df.to_dict(orient="records")}, id="inputs-records"),
        pytest.param({"params": {}, "instances": df.to_dict(orient="records")}, id="params-first"),
    ]


@pytest.mark.parametrize("payload", _mlflow_payloads())
def test_mlflow_json_formats(http: httpx.Client, payload: dict[str, Any]) -> None:
    if "dataframe_split" in payload:
        assert payload["dataframe_split"]["index"] == [0, 1]
    response = http.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": EXPECTED}


@pytest.mark.parametrize("content_type", ["text/csv", "text/csv; charset=utf-8"])
def test_mlflow_csv(http: httpx.Client, content_type: str) -> None:
    body = frame().to_csv(index=False)
    assert body.splitlines()[0] == ",".join(FEATURES)
    response = http.post("/invocations", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": EXPECTED}


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        pytest.param({}, ["exactly one of"], id="no-key"),
        pytest.param({"params": {"a": 1}}, ["exactly one of"], id="only-params"),
        pytest.param(
            {"instances": POSITIONAL, "inputs": POSITIONAL}, ["exactly one of"], id="two-keys"
        ),
        pytest.param({"records": ROWS}, ["unknown keys: records"], id="unknown-key"),
        pytest.param(
            {"dataframe_records": ROWS, "extra": 1}, ["unknown keys: extra"], id="extra-key"
        ),
        pytest.param(
            {"dataframe_records": [{**IRIS_SETOSA, "sepal_width": "abc"}]},
            ["sepal_width", "valid number"],
            id="schema-violation",
        ),
        pytest.param(
            {"instances": [[5.1, 3.5, 1.4]]}, ["row 0 has 3 values", "expected 4"], id="short-row"
        ),
        pytest.param(
            {"dataframe_split": {"columns": ["sepal_length"], "data": [[1.0, 2.0]]}},
            ["row 0 has 2 values"],
            id="split-row-longer-than-columns",
        ),
        pytest.param({"dataframe_split": {"data": POSITIONAL}}, ["columns"], id="split-no-columns"),
        pytest.param(
            {"inputs": {"sepal_length": [1.0, 2.0], "sepal_width": [1.0]}},
            ["different lengths"],
            id="ragged-columns",
        ),
        pytest.param({"instances": {"sepal_length": [1.0]}}, ["list of rows"], id="instances-dict"),
        pytest.param([ROWS], ["JSON object"], id="not-an-object"),
    ],
)
def test_mlflow_errors_are_400_bad_request(
    http: httpx.Client, payload: Any, fragments: list[str]
) -> None:
    assert_mlflow_error(http.post("/invocations", json=payload), *fragments)


def test_mlflow_schema_violation_keeps_details(http: httpx.Client) -> None:
    payload = {"dataframe_records": [IRIS_SETOSA, {**IRIS_VIRGINICA, "petal_length": "abc"}]}
    body = assert_mlflow_error(http.post("/invocations", json=payload))
    assert [d["loc"] for d in body["details"]] == [[1, "petal_length"]]


def test_mlflow_malformed_json_and_bad_csv(http: httpx.Client) -> None:
    response = http.post("/invocations", content=b"{", headers={"content-type": "application/json"})
    assert_mlflow_error(response, "not valid JSON")
    bad_csv = frame().to_csv(index=False).replace("3.5", "abc")
    response = http.post("/invocations", content=bad_csv, headers={"content-type": "text/csv"})
    assert_mlflow_error(response, "sepal_width")


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_mlflow_ping(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


def test_mlflow_version(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == nervosum.__version__


# --------------------------------------------------------------------------- KServe v1


@pytest.mark.parametrize("name", ["Iris", "iris"])
@pytest.mark.parametrize(
    "instances",
    [ROWS, POSITIONAL, [POSITIONAL[0], ROWS[1]]],
    ids=["records", "positional", "mixed"],
)
def test_kserve_v1_predict(http: httpx.Client, name: str, instances: list[Any]) -> None:
    response = http.post(f"/v1/models/{name}:predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": EXPECTED}


def test_kserve_v1_model_status(http: httpx.Client) -> None:
    for name in ("Iris", "iris"):
        response = http.get(f"/v1/models/{name}")
        assert response.status_code == 200
        assert response.json() == {"name": "Iris", "ready": True}


def test_kserve_v1_errors(http: httpx.Client) -> None:
    assert_v2_error(http.get("/v1/models/Nope"), 404, "'Nope'", "'Iris'")
    assert_v2_error(
        http.post("/v1/models/Nope:predict", json={"instances": POSITIONAL}), 404, "'Nope'"
    )
    assert_v2_error(http.post(PREDICT_V1, json={"inputs": POSITIONAL}), 400, "instances")
    assert_v2_error(http.post(PREDICT_V1, json=[ROWS]), 400, "JSON object")
    bad = http.post(PREDICT_V1, content=b"{", headers={"content-type": "application/json"})
    assert_v2_error(bad, 400, "not valid JSON")
    bad_value = {"instances": [IRIS_SETOSA, {**IRIS_VIRGINICA, "petal_width": "abc"}]}
    assert_v2_error(http.post(PREDICT_V1, json=bad_value), 422, "petal_width", "valid number")
    short = {"instances": [[5.1, 3.5, 1.4]]}
    assert_v2_error(http.post(PREDICT_V1, json=short), 422, "row 0 has 3 values")


# --------------------------------------------------------------------------- cross-cutting


def test_every_protocol_agrees_with_native_predict(
    http: httpx.Client, tclient: triton.InferenceServerClient, iris_sample: list[dict[str, float]]
) -> None:
    native = http.post("/predict", json=iris_sample)
    assert native.status_code == 200, native.text
    answers = native.json()
    expected = [a["prediction"] for a in answers]
    assert set(expected) == {0, 1, 2}
    df = frame(iris_sample)
    positional = df.to_numpy().tolist()

    # v2 through tritonclient: one [N, 4] tensor, and one tensor per column, with probabilities.
    matrix = triton.InferInput("input", [len(positional), 4], "FP64")
    matrix.set_data_from_numpy(np.array(positional, dtype=np.float64))
    asked = [
        triton.InferRequestedOutput("prediction"),
        triton.InferRequestedOutput("probabilities"),
    ]
    v2 = tclient.infer("Iris", [matrix], outputs=asked)
    assert v2.as_numpy("prediction").tolist() == expected
    native_probabilities = [[a["probabilities"][c] for c in ("0", "1", "2")] for a in answers]
    assert v2.as_numpy("probabilities").tolist() == native_probabilities
    columns = []
    for name in FEATURES:
        column = triton.InferInput(name, [len(df)], "FP64")
        column.set_data_from_numpy(df[name].to_numpy(dtype=np.float64))
        columns.append(column)
    assert tclient.infer("Iris", columns).as_numpy("prediction").tolist() == expected

    mlflow = [
        http.post("/invocations", json={"dataframe_split": df.to_dict(orient="split")}),
        http.post("/invocations", json={"inputs": df.to_dict(orient="list")}),
        http.post(
            "/invocations",
            content=df.to_csv(index=False),
            headers={"content-type": "text/csv"},
        ),
    ]
    for response in mlflow:
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected}

    v1 = http.post(PREDICT_V1, json={"instances": positional})
    assert v1.status_code == 200, v1.text
    assert v1.json() == {"predictions": expected}


def test_protocol_routes_are_counted_in_metrics(
    http: httpx.Client, tclient: triton.InferenceServerClient
) -> None:
    before = request_counts(http)
    errors_before = error_counts(http)
    tensor = triton.InferInput("input", [2, 4], "FP64")
    tensor.set_data_from_numpy(np.array(POSITIONAL, dtype=np.float64))
    tclient.infer("Iris", [tensor])
    tclient.infer("Iris", [tensor], model_version=TAG)
    tclient.get_model_metadata("Iris")
    assert http.post("/v2/models/Nope/infer", json=matrix_request()).status_code == 404
    assert http.post("/invocations", json={"instances": POSITIONAL}).status_code == 200
    assert http.post("/invocations", json={}).status_code == 400
    assert http.get("/ping").status_code == 200
    assert http.post("/v1/models/iris:predict", json={"instances": ROWS}).status_code == 200
    assert http.get("/v1/models/Iris").status_code == 200
    changed = deltas(before, request_counts(http))
    changed = {key: value for key, value in changed.items() if key[0] != "/metrics"}
    assert changed == {
        ("/v2/models/{name}/infer", "POST", "200"): 1.0,
        ("/v2/models/{name}/versions/{version}/infer", "POST", "200"): 1.0,
        ("/v2/models/{name}", "GET", "200"): 1.0,
        ("/v2/models/{name}/infer", "POST", "404"): 1.0,
        ("/invocations", "POST", "200"): 1.0,
        ("/invocations", "POST", "400"): 1.0,
        ("/ping", "GET", "200"): 1.0,
        ("/v1/models/{name}:predict", "POST", "200"): 1.0,
        ("/v1/models/{name}", "GET", "200"): 1.0,
    }
    error_changes = deltas(errors_before, error_counts(http))
    assert error_changes == {
        ("/v2/models/{name}/infer", "not_found"): 1.0,
        ("/invocations", "bad_request"): 1.0,
    }


def test_protocol_requests_go_through_the_batcher(
    http: httpx.Client, tclient: triton.InferenceServerClient
) -> None:
    def batches() -> tuple[float, float]:
        labels = (("model", "Iris"),)
        count = metric_samples(http, "nervosum_batch_size_count")[labels]
        total = metric_samples(http, "nervosum_batch_size_sum")[labels]
        return count, total

    count, total = batches()
    tensor = triton.InferInput("input", [2, 4], "FP64")
    tensor.set_data_from_numpy(np.array(POSITIONAL, dtype=np.float64))
    assert tclient.infer("Iris", [tensor]).as_numpy("prediction").tolist() == EXPECTED
    three = {"dataframe_records": [*ROWS, IRIS_SETOSA]}
    assert http.post("/invocations", json=three).json() == {"predictions": [0, 2, 0]}
    one = {"instances": [POSITIONAL[1]]}
    assert http.post(PREDICT_V1, json=one).json() == {"predictions": [2]}
    # Sequential requests: one model call each, carrying exactly the request's rows.
    assert batches() == (count + 3, total + 2 + 3 + 1)


# --------------------------------------------------------------------------- several outputs

MULTI_CONFIG = """
name: multi
tag: "1"
model: {module: multi, class: Multi}
input_schema:
  - {name: x, type: float}
output_schema:
  - {name: label, type: str}
  - {name: score, type: float}
"""

MULTI_MODEL = """
import pandas as pd


class Multi:
    def predict(self, df):
        return pd.DataFrame(
            {
                "label": ["big" if x > 1 else "small" for x in df["x"]],
                "score": df["x"] * 0.5,
            }
        )
"""


def test_model_with_several_outputs(make_project: ProjectFactory) -> None:
    project = make_project(MULTI_CONFIG, {"multi.py": MULTI_MODEL})
    records = [{"label": "small", "score": 0.25}, {"label": "big", "score": 1.5}]
    with live_server(project) as server, server.client() as http:
        native = http.post("/predict", json=[{"x": 0.5}, {"x": 3.0}])
        assert native.status_code == 200, native.text
        assert native.json() == records

        client = triton.InferenceServerClient(hostport(server))
        try:
            assert client.get_model_metadata("multi") == {
                "name": "multi",
                "versions": ["1"],
                "platform": "nervosum",
                "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
                "outputs": [
                    {"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "score", "datatype": "FP64", "shape": [-1]},
                ],
            }
            tensor = triton.InferInput("x", [2], "FP64")
            tensor.set_data_from_numpy(np.array([0.5, 3.0]))
            result = client.infer("multi", [tensor])
        finally:
            client.close()
        assert result.get_response()["outputs"] == [
            {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["small", "big"]},
            {"name": "score", "datatype": "FP64", "shape": [2], "data": [0.25, 1.5]},
        ]
        assert result.as_numpy("label").tolist() == ["small", "big"]
        assert result.as_numpy("score").tolist() == [0.25, 1.5]

        only_score = http.post(
            "/v2/models/multi/infer",
            json={
                "inputs": [
                    {"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [[0.5], [3]]}
                ],
                "outputs": [{"name": "score"}],
            },
        )
        assert only_score.status_code == 200, only_score.text
        assert only_score.json()["outputs"] == [
            {"name": "score", "datatype": "FP64", "shape": [2], "data": [0.25, 1.5]}
        ]

        mlflow = http.post("/invocations", json={"dataframe_records": [{"x": 0.5}, {"x": 3.0}]})
        assert mlflow.status_code == 200, mlflow.text
        assert mlflow.json() == {"predictions": records}
        csv = http.post(
            "/invocations", content="x\n0.5\n3.0\n", headers={"content-type": "text/csv"}
        )
        assert csv.json() == {"predictions": records}

        v1 = http.post("/v1/models/multi:predict", json={"instances": [{"x": 0.5}, [3.0]]})
        assert v1.status_code == 200, v1.text
        assert v1.json() == {"predictions": records}
