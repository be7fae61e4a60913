"""The Open Inference Protocol's tensors as nervosum reads and answers them, whatever
carries them: JSON over REST (``v2.py``) or protobuf over gRPC (``serving/inference_grpc``).

Tabular inputs arrive as one tensor per column (name = field, shape ``[N]`` or ``[N, 1]``)
or as a single ``[N, F]`` tensor in schema order. Outputs are one tensor per output field;
``probabilities`` an ``[N, classes]`` tensor when asked for. Both transports decode into
:class:`InputTensor` and answer from :func:`encode_outputs`, so the same rows get the same
answer over either.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from nervosum import __version__
from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.errors import NotFoundError, RequestError
from nervosum.model.outputs import PROBABILITIES

SCHEMA_DATATYPES = {
    "int": "INT64",
    "float": "FP64",
    "bool": "BOOL",
    "str": "BYTES",
    "datetime": "BYTES",
    "list": "BYTES",
    "dict": "BYTES",
}

NUMPY_DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


@dataclass(frozen=True)
class InputTensor:
    """One input tensor, its values flattened in row-major order."""

    name: str
    datatype: str
    shape: list[int]
    values: list[Any]


def check_header(name: Any, datatype: str, shape: Any) -> None:
    """A 400 unless the tensor has a name, a supported datatype and a shape of sizes."""
    if not isinstance(name, str) or not name or not isinstance(shape, list) or not datatype:
        raise RequestError("each input needs a name, a shape and a datatype")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(f"input {name!r}: shape {shape} must be a list of non-negative integers")
    if datatype != "BYTES" and datatype not in NUMPY_DATATYPES:
        raise RequestError(f"input {name!r}: datatype {datatype!r} is not supported")


def raw_values(name: str, datatype: str, raw: bytes) -> list[Any]:
    """A tensor's values from its raw bytes: little-endian numbers, or for BYTES each
    element's 4-byte little-endian length and then its bytes."""
    if datatype == "BYTES":
        return _decode_bytes(name, raw)
    dtype = np.dtype(NUMPY_DATATYPES[datatype]).newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise RequestError(f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype}")
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def _decode_bytes(name: str, raw: bytes) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise RequestError(f"input {name!r}: truncated BYTES tensor")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        values.append(raw[offset : offset + length].decode("utf-8", errors="replace"))
        offset += length
    return values


def checked(name: str, datatype: str, shape: list[int], values: list[Any]) -> InputTensor:
    """The tensor, once its shape and its number of values agree (a 400 otherwise)."""
    if math.prod(shape) != len(values):
        raise RequestError(f"input {name!r}: shape {shape} does not match {len(values)} values")
    return InputTensor(name, datatype, shape, values)


def rows_of(tensors: list[InputTensor], names: tuple[str, ...]) -> list[Record]:
    """The records the input tensors carry (``names``: the input schema's fields)."""
    if not tensors:
        raise RequestError("'inputs' must be a non-empty list of tensors")
    columns: dict[str, list[Any]] = {}
    for tensor in tensors:
        shape, values = tensor.shape, tensor.values
        if len(tensors) == 1 and len(shape) == 2 and shape[1] == len(names) and shape[1] > 1:
            width = shape[1]
            return [
                dict(zip(names, values[i : i + width], strict=True))
                for i in range(0, len(values), width)
            ]
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(
                f"input {tensor.name!r} has shape {shape}; send one [N] tensor per field, "
                f"or a single [N, {len(names)}] tensor in schema order ({', '.join(names)})"
            )
        columns[tensor.name] = values
    unknown = [name for name in columns if names and name not in names]
    if unknown:
        raise RequestError(
            f"unknown input tensor(s) {unknown}; the model's inputs are {list(names)}"
        )
    counts = {len(values) for values in columns.values()}
    if len(counts) != 1:
        raise RequestError("input tensors have different batch sizes")
    count = counts.pop()
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def _datatype(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOL"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "FP64"
    return "BYTES"


def _as_bytes_value(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def encode_outputs(
    outputs: list[Record], requested: list[str] | None, declared: dict[str, str]
) -> list[dict[str, Any]]:
    """One tensor per output field (``probabilities`` as an [N, classes] tensor on request),
    each ``{"name", "datatype", "shape", "data"}`` and, for probabilities, ``parameters``
    naming the classes.

    ``declared`` maps the model's output names to their datatypes, so an empty batch still
    answers with empty tensors of the declared type.
    """
    available = list(declared) if not outputs else [k for k in outputs[0] if k != PROBABILITIES]
    if outputs and PROBABILITIES in outputs[0] and requested and PROBABILITIES in requested:
        available.append(PROBABILITIES)
    names = requested or available
    missing = [n for n in names if n not in available]
    if missing:
        raise NotFoundError(f"unknown output(s) {missing}; the model's outputs are {available}")
    tensors = []
    for name in names:
        if name == PROBABILITIES:
            classes = list(outputs[0][PROBABILITIES])
            data = [o[PROBABILITIES][c] for o in outputs for c in classes]
            tensors.append(
                {
                    "name": name,
                    "datatype": "FP64",
                    "shape": [len(outputs), len(classes)],
                    "data": data,
                    "parameters": {"classes": ",".join(classes)},
                }
            )
            continue
        values = [o.get(name) for o in outputs]
        datatype = _datatype(values) if values else declared.get(name, "BYTES")
        if datatype == "BYTES":
            values = [_as_bytes_value(v) for v in values]
        tensors.append({"name": name, "datatype": datatype, "shape": [len(values)], "data": values})
    return tensors


def declared_outputs(project: Project, output_names: tuple[str, ...]) -> dict[str, str]:
    """Each output the model answers with, and its datatype (BYTES when the output schema
    does not say)."""
    types = {f.name: SCHEMA_DATATYPES[f.type] for f in project.config.output_schema}
    return {name: types.get(name, "BYTES") for name in output_names}


def server_metadata(extensions: list[str]) -> dict[str, Any]:
    return {"name": "nervosum", "version": __version__, "extensions": extensions}


def model_metadata(project: Project) -> dict[str, Any]:
    """The model's name, version, and its inputs and outputs as tensors of any length."""
    config = project.config
    inputs = [
        {"name": f.name, "datatype": SCHEMA_DATATYPES[f.type], "shape": [-1]}
        for f in config.input_schema
    ]
    outputs = [
        {"name": f.name, "datatype": SCHEMA_DATATYPES[f.type], "shape": [-1]}
        for f in config.output_schema
    ]
    return {
        "name": config.name,
        "versions": [config.tag],
        "platform": "nervosum",
        "inputs": inputs,
        "outputs": outputs or [{"name": "prediction", "datatype": "BYTES", "shape": [-1]}],
    }
