"""ModelInfer's protobuf messages to and from what the REST protocol decodes and answers
(``serving/protocols/tensors.py``): the same tensors give the same records, the same
outputs the same tensors.

Inputs come as typed ``contents`` or, as tritonclient sends them, one
``raw_input_contents`` entry per input. An answer mirrors its request: raw output
contents for a raw request (tritonclient reads numbers only from there), typed contents
otherwise.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from nervosum.errors import RequestError
from nervosum.jsonio import dumps
from nervosum.serving.protocols.tensors import (
    NUMPY_DATATYPES,
    InputTensor,
    check_header,
    checked,
    raw_values,
)

# Where each datatype's values stand in InferTensorContents (FP16 travels raw only).
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def input_tensors(request: Any) -> list[InputTensor]:
    """The request's input tensors, their values decoded (a 400 naming the input when a
    tensor's header, data or shape is wrong)."""
    raw = request.raw_input_contents
    if raw and any(tensor.HasField("contents") for tensor in request.inputs):
        raise RequestError(
            "the request holds both raw_input_contents and typed contents",
            hint="send every input's data one way: raw, or in contents",
        )
    if raw and len(raw) != len(request.inputs):
        raise RequestError(
            f"raw_input_contents holds {len(raw)} entries for {len(request.inputs)} inputs",
            hint="send one raw entry per input, in order, or typed contents",
        )
    tensors = []
    for index, tensor in enumerate(request.inputs):
        name, datatype, shape = tensor.name, tensor.datatype.upper(), list(tensor.shape)
        check_header(name, datatype, shape)
        if raw:
            values = raw_values(name, datatype, raw[index])
        else:
            values = _typed_values(tensor, name, datatype)
        tensors.append(checked(name, datatype, shape, values))
    return tensors


def _typed_values(tensor: Any, name: str, datatype: str) -> list[Any]:
    field = CONTENTS.get(datatype)
    if field is None:
        raise RequestError(f"input {name!r}: {datatype} has no typed contents", hint="send it raw")
    values = list(getattr(tensor.contents, field))
    if datatype == "BYTES":
        return [value.decode("utf-8", errors="replace") for value in values]
    return values


def requested_outputs(request: Any) -> list[str] | None:
    """The output names asked for; None for every output."""
    return [output.name for output in request.outputs] or None


def fill_outputs(response: Any, tensors: list[dict[str, Any]], *, raw: bool) -> None:
    """Add the answer's tensors (``encode_outputs``' dicts) to ``response``."""
    for tensor in tensors:
        datatype, values = _without_nulls(tensor["datatype"], tensor["data"])
        output = response.outputs.add()
        output.name = tensor["name"]
        output.datatype = datatype
        output.shape.extend(tensor["shape"])
        for key, value in (tensor.get("parameters") or {}).items():
            output.parameters[key].string_param = value
        if raw:
            response.raw_output_contents.append(_raw(datatype, values))
        else:
            _typed(output.contents, datatype, values)


def _without_nulls(datatype: str, values: list[Any]) -> tuple[str, list[Any]]:
    """Protobuf tensors hold no null (REST's JSON answers ``null``): a numeric output with
    a missing value becomes FP64 with NaN there, a boolean one BYTES (``true``, ``false``,
    ``null``)."""
    if all(value is not None for value in values):
        return datatype, values
    if datatype == "BOOL":
        return "BYTES", [dumps(value).decode() for value in values]
    return "FP64", [math.nan if value is None else float(value) for value in values]


def _raw(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in values:
            encoded = value.encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)))
            parts.append(encoded)
        return b"".join(parts)
    dtype = np.dtype(NUMPY_DATATYPES[datatype]).newbyteorder("<")
    return np.asarray(values, dtype=dtype).tobytes()


def _typed(contents: Any, datatype: str, values: list[Any]) -> None:
    if datatype == "BYTES":
        values = [value.encode("utf-8") for value in values]
    getattr(contents, CONTENTS[datatype]).extend(values)
