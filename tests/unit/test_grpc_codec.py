"""ModelInfer messages to records and back (serving/inference_grpc/codec.py), and errors
to gRPC status codes (status.py)."""

from __future__ import annotations

import math
import struct
from typing import Any

import grpc
import numpy as np
import pytest

from nervosum.errors import (
    InputValidationError,
    NotFoundError,
    NotReadyError,
    OverloadedError,
    PayloadTooLargeError,
    RequestError,
    RequestTimeoutError,
    UnauthorizedError,
)
from nervosum.serving.inference_grpc import messages
from nervosum.serving.inference_grpc.codec import fill_outputs, input_tensors, requested_outputs
from nervosum.serving.inference_grpc.status import ERROR_HINT, ERROR_TYPE, status_of, trailers
from nervosum.serving.protocols.tensors import encode_outputs, rows_of

NAMES = ("count", "ratio", "word")


def _bytes_tensor(*values: str) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def _request(raw: bool) -> Any:
    request = messages.InferRequest(model_name="m")
    columns: list[tuple[str, str, str, list[Any], bytes]] = [
        ("count", "INT64", "int64_contents", [3, 4], np.array([3, 4], "<i8").tobytes()),
        ("ratio", "FP32", "fp32_contents", [0.5, 2.0], np.array([0.5, 2.0], "<f4").tobytes()),
        ("word", "BYTES", "bytes_contents", [b"a", "é".encode()], _bytes_tensor("a", "é")),
    ]
    for name, datatype, field, values, packed in columns:
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[2])
        if raw:
            request.raw_input_contents.append(packed)
        else:
            getattr(tensor.contents, field).extend(values)
    return request


@pytest.mark.parametrize("raw", [True, False])
def test_raw_and_typed_contents_give_the_same_rows(raw: bool) -> None:
    rows = rows_of(input_tensors(_request(raw)), NAMES)
    assert rows == [
        {"count": 3, "ratio": 0.5, "word": "a"},
        {"count": 4, "ratio": 2.0, "word": "é"},
    ]


def test_raw_entries_must_match_the_inputs() -> None:
    request = _request(raw=True)
    del request.raw_input_contents[-1]
    with pytest.raises(RequestError, match="2 entries for 3 inputs"):
        input_tensors(request)


def test_raw_and_typed_contents_together_are_refused() -> None:
    request = _request(raw=True)
    request.inputs[0].contents.int64_contents.append(3)
    with pytest.raises(RequestError, match="both raw_input_contents and typed contents"):
        input_tensors(request)


def test_a_raw_tensor_of_a_partial_value_is_refused() -> None:
    request = messages.InferRequest()
    request.inputs.add(name="count", datatype="INT64", shape=[1])
    request.raw_input_contents.append(b"\x01\x02\x03")
    with pytest.raises(RequestError, match="3 bytes is not a whole number of INT64"):
        input_tensors(request)


def test_fp16_has_no_typed_contents() -> None:
    request = messages.InferRequest()
    request.inputs.add(name="x", datatype="FP16", shape=[1])
    with pytest.raises(RequestError, match="FP16 has no typed contents"):
        input_tensors(request)


def test_an_unsupported_datatype_is_named() -> None:
    request = messages.InferRequest()
    request.inputs.add(name="x", datatype="COMPLEX", shape=[1])
    with pytest.raises(RequestError, match="'COMPLEX' is not supported"):
        input_tensors(request)


def test_requested_outputs() -> None:
    request = messages.InferRequest()
    assert requested_outputs(request) is None
    request.outputs.add(name="total")
    assert requested_outputs(request) == ["total"]


OUTPUTS = [
    {"total": 1.5, "next": 4, "shout": "A", "ok": True},
    {"total": 8.0, "next": 5, "shout": "É", "ok": False},
]
DECLARED = {"total": "FP64", "next": "INT64", "shout": "BYTES", "ok": "BOOL"}


def _decoded(response: Any, raw: bool) -> dict[str, list[Any]]:
    """What a client reads back from each output tensor: read as an input tensor (the two
    share their field numbers) and decoded as the server decodes inputs."""
    found: dict[str, list[Any]] = {}
    for index, output in enumerate(response.outputs):
        request = messages.InferRequest()
        request.inputs.add().ParseFromString(output.SerializeToString())
        if raw:
            request.raw_input_contents.append(response.raw_output_contents[index])
        found[output.name] = input_tensors(request)[0].values
    return found


@pytest.mark.parametrize("raw", [True, False])
def test_outputs_round_trip_in_either_form(raw: bool) -> None:
    response = messages.InferResponse()
    fill_outputs(response, encode_outputs(OUTPUTS, None, DECLARED), raw=raw)
    assert bool(response.raw_output_contents) is raw
    assert _decoded(response, raw) == {
        "total": [1.5, 8.0],
        "next": [4, 5],
        "shout": ["A", "É"],
        "ok": [True, False],
    }
    datatypes = {o.name: o.datatype for o in response.outputs}
    assert datatypes == DECLARED


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputValidationError("bad field"), grpc.StatusCode.INVALID_ARGUMENT),
        (RequestError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFoundError("no model"), grpc.StatusCode.NOT_FOUND),
        (NotReadyError("loading"), grpc.StatusCode.UNAVAILABLE),
        (OverloadedError("full", hint="retry after a moment"), grpc.StatusCode.UNAVAILABLE),
        (RequestTimeoutError("slow"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (PayloadTooLargeError("big"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (UnauthorizedError("who"), grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_errors_map_to_the_status_a_client_expects(error: Any, code: grpc.StatusCode) -> None:
    assert status_of(error) is code


def test_the_hint_and_type_travel_as_trailing_metadata() -> None:
    pairs = dict(trailers(OverloadedError("full", hint="retry after a moment — or later")))
    assert pairs[ERROR_TYPE] == OverloadedError("x").code
    assert pairs[ERROR_HINT].isascii() and pairs[ERROR_HINT].startswith("retry after a moment")


@pytest.mark.parametrize("raw", [True, False])
def test_missing_values_become_nan_or_json_text(raw: bool) -> None:
    """REST answers null; a protobuf tensor holds none."""
    outputs = [{"n": 4, "ok": True}, {"n": None, "ok": None}]
    response = messages.InferResponse()
    fill_outputs(response, encode_outputs(outputs, None, {"n": "INT64", "ok": "BOOL"}), raw=raw)
    datatypes = {o.name: o.datatype for o in response.outputs}
    assert datatypes == {"n": "FP64", "ok": "BYTES"}
    found = _decoded(response, raw)
    assert found["n"][0] == 4.0 and math.isnan(found["n"][1])
    assert found["ok"] == ["true", "null"]
