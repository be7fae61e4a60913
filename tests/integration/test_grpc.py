"""The Open Inference Protocol over gRPC (issue 23) against live `nervosum serve` and
`serve-repo` processes, driven by tritonclient's own gRPC client and grpcio's health stub.

Every answer over gRPC is checked against the REST answer for the same rows; errors
against the gRPC status codes a client expects, with the JSON error's message.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.conftest import (
    EXAMPLES,
    IRIS_SETOSA,
    IRIS_VIRGINICA,
    LiveServer,
    free_port,
    iris_copy,
    metric_samples,
    spawned_nervosum,
    spawned_server,
    wait_ready,
)
from tests.integration.test_auth import Keys, make_keys
from tests.integration.test_tls import Certificates, make_certificates, wait_https_ready

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

TYPED_MODEL = '''
import time

import pandas as pd


class Typed:
    """Answers from ints, floats and strings; waits ``delay`` seconds when asked to."""

    def __init__(self, load_seconds: float = 0.0) -> None:
        time.sleep(load_seconds)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        time.sleep(float(frame["delay"].max()))
        return pd.DataFrame(
            {
                "total": frame["count"] * frame["ratio"],
                "next": frame["count"] + 1,
                "shout": frame["word"].str.upper(),
            }
        )
'''


def typed_project(folder: Path, *, load_seconds: float = 0.0, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "typed.py").write_text(TYPED_MODEL)
    (folder / "nervosum.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: typed
            model: {{module: typed, class: Typed, init: {{load_seconds: {load_seconds}}}}}
            input_schema:
              - {{name: count, type: int}}
              - {{name: ratio, type: float}}
              - {{name: word, type: str}}
              - {{name: delay, type: float, default: 0.0}}
            output_schema:
              - {{name: total, type: float}}
              - {{name: next, type: int}}
              - {{name: shout, type: str}}
            """
        )
        + extra
    )
    return folder


class GrpcServer:
    """A live server and its gRPC address."""

    def __init__(self, server: LiveServer, grpc_port: int) -> None:
        self.server = server
        self.target = f"127.0.0.1:{grpc_port}"

    def client(self) -> triton.InferenceServerClient:
        return triton.InferenceServerClient(self.target)


def two_ports() -> tuple[int, int]:
    """Two free ports that differ: the kernel may hand the same one out twice in a row."""
    first = free_port()
    while (second := free_port()) == first:
        pass
    return first, second


@contextmanager
def grpc_server(project: Path, *args: str, ready: bool = True) -> Iterator[GrpcServer]:
    port, grpc_port = two_ports()
    flags = ("--port", str(port), "--grpc-port", str(grpc_port), *args)
    with spawned_server(project, *flags, port=port) as server:
        if ready:
            wait_ready(server)
        yield GrpcServer(server, grpc_port)


@pytest.fixture(scope="module")
def iris() -> Iterator[GrpcServer]:
    with grpc_server(EXAMPLES / "iris") as server:
        yield server


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    project = typed_project(tmp_path_factory.mktemp("grpc") / "typed")
    with grpc_server(project, "--max-body-size", "65536") as server:
        yield server


def iris_inputs(rows: list[dict[str, float]], datatype: str = "FP32") -> list[Any]:
    dtype = np.float32 if datatype == "FP32" else np.float64
    tensors = []
    for name in FEATURES:
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(np.array([row[name] for row in rows], dtype=dtype))
        tensors.append(tensor)
    return tensors


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def typed_inputs(rows: list[dict[str, Any]]) -> list[Any]:
    count = triton.InferInput("count", [len(rows)], "INT64")
    count.set_data_from_numpy(np.array([r["count"] for r in rows], dtype=np.int64))
    ratio = triton.InferInput("ratio", [len(rows)], "FP64")
    ratio.set_data_from_numpy(np.array([r["ratio"] for r in rows], dtype=np.float64))
    word = triton.InferInput("word", [len(rows)], "BYTES")
    word.set_data_from_numpy(np.array([r["word"].encode() for r in rows], dtype=np.object_))
    tensors = [count, ratio, word]
    if any("delay" in r for r in rows):
        delay = triton.InferInput("delay", [len(rows)], "FP64")
        delay.set_data_from_numpy(np.array([r.get("delay", 0.0) for r in rows]))
        tensors.append(delay)
    return tensors


def rest(server: GrpcServer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = httpx.post(f"{server.server.url}/predict?proba=false", json=rows, timeout=30)
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()
    return result


def failure(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize("rows", [[IRIS_SETOSA], [IRIS_SETOSA, IRIS_VIRGINICA]])
@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_iris_answers_equal_rest(
    iris: GrpcServer, rows: list[dict[str, float]], datatype: str
) -> None:
    result = iris.client().infer("Iris", iris_inputs(rows, datatype))
    expected = [answer["prediction"] for answer in rest(iris, rows)]
    assert result.as_numpy("prediction").tolist() == expected
    response = result.get_response()
    assert (response.model_name, response.model_version) == ("Iris", "v0.0.1")


def test_one_matrix_tensor_in_schema_order(iris: GrpcServer) -> None:
    tensor = triton.InferInput("input", [2, 4], "FP64")
    matrix = [[row[f] for f in FEATURES] for row in (IRIS_SETOSA, IRIS_VIRGINICA)]
    tensor.set_data_from_numpy(np.array(matrix))
    assert iris.client().infer("Iris", [tensor]).as_numpy("prediction").tolist() == [0, 2]


def test_int64_and_bytes_in_and_out_equal_rest(typed: GrpcServer) -> None:
    rows = [{"count": 3, "ratio": 0.5, "word": "héllo"}, {"count": 7, "ratio": 2.0, "word": "b"}]
    result = typed.client().infer("typed", typed_inputs(rows))
    expected = rest(typed, rows)
    assert result.as_numpy("total").tolist() == [r["total"] for r in expected]
    assert result.as_numpy("next").tolist() == [r["next"] for r in expected]
    assert [v.decode() for v in result.as_numpy("shout")] == [r["shout"] for r in expected]
    datatypes = {o.name: o.datatype for o in result.get_response().outputs}
    assert datatypes == {"total": "FP64", "next": "INT64", "shout": "BYTES"}


def test_output_selection_and_the_request_id_echoed(typed: GrpcServer) -> None:
    rows = [{"count": 2, "ratio": 1.5, "word": "x"}]
    wanted = [triton.InferRequestedOutput("next")]
    result = typed.client().infer("typed", typed_inputs(rows), outputs=wanted, request_id="r-1")
    response = result.get_response()
    assert [o.name for o in response.outputs] == ["next"]
    assert response.id == "r-1"
    assert result.as_numpy("next").tolist() == [3]


def test_probabilities_as_an_n_by_classes_tensor(iris: GrpcServer) -> None:
    wanted = [
        triton.InferRequestedOutput("prediction"),
        triton.InferRequestedOutput("probabilities"),
    ]
    result = iris.client().infer("Iris", iris_inputs([IRIS_VIRGINICA]), outputs=wanted)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape[0] == 1 and probabilities.shape[1] >= 3
    assert abs(float(probabilities.sum()) - 1.0) < 1e-6
    output = next(o for o in result.get_response().outputs if o.name == "probabilities")
    assert output.parameters["classes"].string_param.count(",") == probabilities.shape[1] - 1


def test_typed_contents_are_answered_with_typed_contents(typed: GrpcServer) -> None:
    """A client that sends ``contents`` (not raw bytes) reads ``contents`` back."""
    from nervosum.serving.inference_grpc import messages

    request = messages.InferRequest(model_name="typed")
    for name, datatype, field, values in (
        ("count", "INT64", "int64_contents", [4]),
        ("ratio", "FP32", "fp32_contents", [0.25]),
        ("word", "BYTES", "bytes_contents", [b"ok"]),
    ):
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[1])
        getattr(tensor.contents, field).extend(values)
    with grpc.insecure_channel(typed.target) as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=messages.InferRequest.SerializeToString,
            response_deserializer=messages.InferResponse.FromString,
        )
        response = infer(request, timeout=10)
    assert not response.raw_output_contents
    outputs = {o.name: o for o in response.outputs}
    assert list(outputs["total"].contents.fp64_contents) == [1.0]
    assert list(outputs["next"].contents.int64_contents) == [5]
    assert list(outputs["shout"].contents.bytes_contents) == [b"OK"]


# --------------------------------------------------------------------------- metadata


def test_liveness_readiness_and_metadata(iris: GrpcServer) -> None:
    client = iris.client()
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("Iris") and client.is_model_ready("Iris", "v0.0.1")
    server = client.get_server_metadata()
    assert server.name == "nervosum"
    model = client.get_model_metadata("Iris", as_json=True)
    assert model["name"] == "Iris" and model["versions"] == ["v0.0.1"]
    assert [i["name"] for i in model["inputs"]] == FEATURES
    assert {i["datatype"] for i in model["inputs"]} == {"FP64"}
    rest_metadata = httpx.get(f"{iris.server.url}/v2/models/Iris").json()
    assert [o["name"] for o in model["outputs"]] == [o["name"] for o in rest_metadata["outputs"]]


# --------------------------------------------------------------------------- errors


def test_an_unknown_model_or_version_is_not_found(iris: GrpcServer) -> None:
    client = iris.client()
    error = failure(lambda: client.infer("Nope", iris_inputs([IRIS_SETOSA])))
    assert error.status() == "StatusCode.NOT_FOUND" and "'Nope'" in error.message()
    error = failure(lambda: client.get_model_metadata("Iris", "v9"))
    assert error.status() == "StatusCode.NOT_FOUND" and "'v9'" in error.message()


def test_shape_and_data_that_disagree_are_invalid(iris: GrpcServer) -> None:
    tensors = iris_inputs([IRIS_SETOSA, IRIS_VIRGINICA])
    tensors[0] = triton.InferInput("sepal_length", [3], "FP32")
    tensors[0].set_data_from_numpy(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    tensors[0]._input.shape[:] = [5]  # the header says 5 values, the data holds 3
    error = failure(lambda: iris.client().infer("Iris", tensors))
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "shape [5] does not match 3 values" in error.message()


def test_a_validation_error_names_the_field_as_rest_does(typed: GrpcServer) -> None:
    word = triton.InferInput("word", [1], "BYTES")
    word.set_data_from_numpy(np.array([b"w"], dtype=np.object_))
    count = triton.InferInput("count", [1], "BYTES")
    count.set_data_from_numpy(np.array([b"many"], dtype=np.object_))
    ratio = triton.InferInput("ratio", [1], "FP64")
    ratio.set_data_from_numpy(np.array([1.0]))
    error = failure(lambda: typed.client().infer("typed", [count, ratio, word]))
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    body = httpx.post(
        f"{typed.server.url}/predict", json=[{"count": "many", "ratio": 1.0, "word": "w"}]
    ).json()
    assert "count" in error.message()
    assert error.message() == body["error"]["message"]


def test_a_message_over_the_limit_is_resource_exhausted(typed: GrpcServer) -> None:
    rows = [{"count": 1, "ratio": 1.0, "word": "x" * 100}] * 1000  # ~100 KiB > 64 KiB
    error = failure(lambda: typed.client().infer("typed", typed_inputs(rows)))
    assert error.status() == "StatusCode.RESOURCE_EXHAUSTED"


def test_the_clients_deadline_is_honoured(typed: GrpcServer) -> None:
    rows = [{"count": 1, "ratio": 1.0, "word": "slow", "delay": 2.0}]
    started = time.monotonic()
    error = failure(lambda: typed.client().infer("typed", typed_inputs(rows), client_timeout=0.5))
    assert error.status() == "StatusCode.DEADLINE_EXCEEDED"
    assert time.monotonic() - started < 1.5
    # The server gave up on the call too, and counts it as such.
    key = (("code", "DEADLINE_EXCEEDED"), ("method", "ModelInfer"), ("model", "typed"))
    with httpx.Client(base_url=typed.server.url) as http:
        deadline = time.monotonic() + 5
        while metric_samples(http, "nervosum_grpc_requests_total").get(key) != 1:
            assert time.monotonic() < deadline, "the call was not counted as past its deadline"
            time.sleep(0.1)
    # The server is fine afterwards.
    assert typed.client().infer("typed", typed_inputs([{**rows[0], "delay": 0.0}])) is not None


# --------------------------------------------------------------------------- health


def health_status(target: str, service: str) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(answer.status)


def test_health_per_model_and_server_before_and_after_loading(tmp_path: Path) -> None:
    project = typed_project(tmp_path / "slow", load_seconds=4.0)
    with grpc_server(project, ready=False) as server:
        deadline = time.monotonic() + 30
        while True:
            try:
                before = health_status(server.target, "")
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, server.server.output()
                time.sleep(0.1)
        assert before == health_pb2.HealthCheckResponse.NOT_SERVING
        assert health_status(server.target, "typed") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert not server.client().is_model_ready("typed")
        rows = [{"count": 1, "ratio": 1.0, "word": "early"}]
        error = failure(lambda: server.client().infer("typed", typed_inputs(rows)))
        assert error.status() == "StatusCode.UNAVAILABLE"
        assert "still loading" in error.message()
        wait_ready(server.server)
        for service in ("", "typed", "inference.GRPCInferenceService"):
            assert health_status(server.target, service) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as caught:
            health_status(server.target, "nope")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------- the REST path


def test_metrics_and_prediction_log_see_grpc_calls(tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    extra = f"logging: {{sinks: [{{type: jsonl, path: {json.dumps(str(log))}}}]}}\n"
    project = typed_project(tmp_path / "logged", extra=extra)
    with grpc_server(project) as server:
        rows = [{"count": 2, "ratio": 2.0, "word": "a"}, {"count": 1, "ratio": 1.0, "word": "b"}]
        server.client().infer("typed", typed_inputs(rows), request_id="grpc-7")
        failure(lambda: server.client().infer("Nope", typed_inputs(rows)))
        with httpx.Client(base_url=server.server.url) as http:
            calls = metric_samples(http, "nervosum_grpc_requests_total")
            assert calls[(("code", "OK"), ("method", "ModelInfer"), ("model", "typed"))] == 1
            assert calls[(("code", "NOT_FOUND"), ("method", "ModelInfer"), ("model", "typed"))] == 1
            batches = metric_samples(http, "nervosum_processing_seconds_count")
            assert sum(batches.values()) >= 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    predictions = [r for r in records if r.get("request_id") == "grpc-7"]
    assert [r["outputs"]["next"] for r in predictions] == [3, 2]
    assert {r["route"] for r in predictions} == {"/inference.GRPCInferenceService/ModelInfer"}
    assert predictions[0]["inputs"] == {"count": 2, "ratio": 2.0, "word": "a", "delay": 0.0}


def test_the_model_in_its_own_process_answers_grpc_too() -> None:
    with grpc_server(EXAMPLES / "iris", "--model-process") as server:
        rows = [IRIS_SETOSA, IRIS_VIRGINICA]
        result = server.client().infer("Iris", iris_inputs(rows))
        assert result.as_numpy("prediction").tolist() == [0, 2]


def test_two_workers_share_the_grpc_port() -> None:
    with grpc_server(EXAMPLES / "iris", "--workers", "2") as server:
        client = server.client()
        for _ in range(20):
            assert client.infer("Iris", iris_inputs([IRIS_SETOSA])).as_numpy("prediction")[0] == 0


def test_sigterm_drains_grpc_with_http(tmp_path: Path) -> None:
    """At SIGTERM gRPC stops saying SERVING and taking calls at once, as HTTP does, and a
    call in flight still gets its answer."""
    project = typed_project(tmp_path / "drain")
    with grpc_server(project) as server:
        rows = [{"count": 5, "ratio": 1.0, "word": "late", "delay": 2.0}]
        answers: list[Any] = []
        thread = threading.Thread(
            target=lambda: answers.append(server.client().infer("typed", typed_inputs(rows)))
        )
        thread.start()
        time.sleep(0.5)
        os.kill(server.server.process.pid, signal.SIGTERM)
        time.sleep(0.3)
        try:
            status = health_status(server.target, "")
        except grpc.RpcError as exc:  # no new calls taken: refused outright
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
        else:
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        thread.join(timeout=20)
        assert answers and answers[0].as_numpy("next").tolist() == [6]
        assert server.server.process.wait(timeout=20) == 0


# --------------------------------------------------------------------------- keys and TLS


def test_keys_are_read_from_the_authorization_metadata(keys: Keys) -> None:
    with grpc_server(EXAMPLES / "iris", "--api-keys-file", str(keys.file)) as server:
        client = server.client()
        inputs = iris_inputs([IRIS_SETOSA])
        error = failure(lambda: client.infer("Iris", inputs))
        assert error.status() == "StatusCode.UNAUTHENTICATED"
        assert "needs an API key or token" in error.message()
        error = failure(lambda: client.infer("Iris", inputs, headers={"authorization": "Bearer x"}))
        assert error.status() == "StatusCode.UNAUTHENTICATED"
        for headers in ({"authorization": f"Bearer {keys.predict}"}, {"x-api-key": keys.predict}):
            assert client.infer("Iris", inputs, headers=headers).as_numpy("prediction")[0] == 0
        # Probes need no key: the protocol's liveness and readiness, and the health service.
        assert client.is_server_live() and client.is_server_ready()
        assert health_status(server.target, "") == health_pb2.HealthCheckResponse.SERVING
        error = failure(lambda: client.get_model_metadata("Iris"))
        assert error.status() == "StatusCode.UNAUTHENTICATED"
        # The docs are closed with keys on (auth.docs: predict), and so is reflection.
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        with grpc.insecure_channel(server.target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            ask = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.RpcError) as caught:
                list(stub.ServerReflectionInfo(iter([ask]), timeout=5))
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_repository_extension_needs_the_admin_scope(keys: Keys, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    iris_copy(folder, "iris")
    port, grpc_port = two_ports()
    args = ("serve-repo", str(folder), "--port", str(port), "--grpc-port", str(grpc_port))
    with spawned_nervosum(*args, "--api-keys-file", str(keys.file), port=port) as live:
        wait_ready(live, timeout=90)
        client = GrpcServer(live, grpc_port).client()
        predict = {"authorization": f"Bearer {keys.predict}"}
        admin = {"authorization": f"Bearer {keys.admin}"}
        for name in ("iris", "a/b", ""):  # a name cannot choose the route class
            error = failure(lambda name=name: client.unload_model(name, headers=predict))
            assert error.status() == "StatusCode.PERMISSION_DENIED", name
        error = failure(lambda: client.get_model_repository_index(headers=predict))
        assert error.status() == "StatusCode.PERMISSION_DENIED"
        assert client.get_model_repository_index(headers=admin, as_json=True)["models"]
        inputs = iris_inputs([IRIS_SETOSA])
        assert client.infer("iris", inputs, headers=predict).as_numpy("prediction")[0] == 0


def _tls_channel(target: str, certificates: Certificates, *, with_certificate: bool) -> Any:
    client = certificates.client.read_bytes() if with_certificate else None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certificates.ca.read_bytes(),
        private_key=client,
        certificate_chain=client,
    )
    return grpc.secure_channel(target, credentials)


def _infer_over(channel: Any) -> Any:
    from nervosum.serving.inference_grpc import messages

    request = messages.InferRequest(model_name="Iris")
    for name in FEATURES:
        request.inputs.add(name=name, datatype="FP64", shape=[1]).contents.fp64_contents.append(
            IRIS_VIRGINICA[name]
        )
    infer = channel.unary_unary(
        "/inference.GRPCInferenceService/ModelInfer",
        request_serializer=messages.InferRequest.SerializeToString,
        response_deserializer=messages.InferResponse.FromString,
    )
    return infer(request, timeout=10)


def test_mutual_tls_with_the_https_settings(certificates: Certificates) -> None:
    with grpc_server(EXAMPLES / "iris", *certificates.flags(), ready=False) as server:
        https = certificates.client_context(with_certificate=True)
        wait_https_ready(server.server, server.server.url.replace("http:", "https:"), https)
        with _tls_channel(server.target, certificates, with_certificate=True) as channel:
            answer = _infer_over(channel)
            assert list(answer.outputs[0].contents.int64_contents) == [2]
        with _tls_channel(server.target, certificates, with_certificate=False) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                _infer_over(channel)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(server.target) as plain, pytest.raises(grpc.RpcError):
            _infer_over(plain)


# --------------------------------------------------------------------------- serve-repo


def test_serve_repo_answers_every_model_by_name_and_the_repository_extension(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "models"
    iris_copy(folder, "iris")
    typed_project(folder / "typed")
    port, grpc_port = two_ports()
    args = ("serve-repo", str(folder), "--port", str(port), "--grpc-port", str(grpc_port))
    with spawned_nervosum(*args, port=port) as live:
        wait_ready(live, timeout=90)
        server = GrpcServer(live, grpc_port)
        client = server.client()
        rows = [{"count": 2, "ratio": 0.5, "word": "q"}]
        typed_answer = client.infer("typed", typed_inputs(rows))
        rest_answer = httpx.post(f"{live.url}/models/typed/predict", json=rows, timeout=30).json()
        assert typed_answer.as_numpy("next").tolist() == [r["next"] for r in rest_answer]
        iris_answer = client.infer("iris", iris_inputs([IRIS_VIRGINICA]))
        assert iris_answer.as_numpy("prediction").tolist() == [2]
        index = client.get_model_repository_index(as_json=True)["models"]
        assert {(m["name"], m["state"]) for m in index} == {("iris", "READY"), ("typed", "READY")}
        assert client.get_server_metadata().extensions == ["model_repository"]

        client.unload_model("typed")
        assert not client.is_model_ready("typed") and client.is_model_ready("iris")
        error = failure(lambda: client.infer("typed", typed_inputs(rows)))
        assert error.status() == "StatusCode.UNAVAILABLE" and "unloaded" in error.message()
        from nervosum.serving.inference_grpc import messages

        index_type, answer_type = messages.method_types("RepositoryIndex")
        with grpc.insecure_channel(server.target) as channel:
            index = channel.unary_unary(
                "/inference.GRPCInferenceService/RepositoryIndex",
                request_serializer=index_type.SerializeToString,
                response_deserializer=answer_type.FromString,
            )
            everything = index(index_type(), timeout=10).models
            ready_only = index(index_type(ready=True), timeout=10).models
        assert {m.name: m.state for m in everything} == {"iris": "READY", "typed": "UNAVAILABLE"}
        assert [m.name for m in ready_only] == ["iris"]
        client.load_model("typed")
        assert client.infer("typed", typed_inputs(rows)).as_numpy("next").tolist() == [3]

        error = failure(lambda: client.infer("nope", typed_inputs(rows)))
        assert error.status() == "StatusCode.NOT_FOUND" and "'nope'" in error.message()


def test_reflection_describes_the_service_without_a_proto_file(iris: GrpcServer) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    asks = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="inference.GRPCInferenceService"
        ),
    ]
    with grpc.insecure_channel(iris.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed, described = list(stub.ServerReflectionInfo(iter(asks), timeout=10))
    names = {service.name for service in listed.list_services_response.service}
    assert {"inference.GRPCInferenceService", "grpc.health.v1.Health"} <= names
    files = described.file_descriptor_response.file_descriptor_proto
    assert files and b"ModelInferRequest" in files[0]
