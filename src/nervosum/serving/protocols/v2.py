"""Open Inference Protocol v2 (KServe v2 / Triton) over REST.

Tabular inputs arrive as one tensor per column (name = field, shape ``[N]`` or
``[N, 1]``) or as a single ``[N, F]`` tensor in schema order; data may be JSON (flat or
nested) or, with the binary tensor extension that ``tritonclient`` uses by default, raw
bytes after the JSON header. Outputs are one tensor per output field, in JSON.
Errors are ``{"error": "<message>"}`` as the protocol specifies.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nervosum import __version__
from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.errors import NervosumError, NotFoundError, RequestError
from nervosum.model.outputs import PROBABILITIES
from nervosum.schema.records import RecordSchema
from nervosum.serving.body import check_row_count, load_json, parse_off_loop, read_json_body
from nervosum.serving.guard import guarded_as, state_of
from nervosum.serving.protocols.naming import served_project
from nervosum.serving.responses import JsonResponse

HEADER_LENGTH = "inference-header-content-length"
OCTET_STREAM = "application/octet-stream"

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


def render_error(error: NervosumError, expose_details: bool) -> JsonResponse:
    return JsonResponse(
        {"error": error.to_record(expose_details=expose_details)["message"]},
        status_code=error.http_status,
    )


def _bad(message: str) -> RequestError:
    return RequestError(message)


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [value for item in data for value in _flatten(item)]
    return data if isinstance(data, list) else [data]


def _decode_bytes(raw: bytes) -> list[str]:
    """BYTES tensors in binary form: each element is a 4-byte little-endian length + bytes."""
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise _bad("truncated BYTES tensor")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        values.append(raw[offset : offset + length].decode("utf-8", errors="replace"))
        offset += length
    return values


def _tensor_values(
    tensor: dict[str, Any], binary: memoryview, offset: int
) -> tuple[list[Any], int]:
    name = tensor.get("name")
    datatype = str(tensor.get("datatype", "")).upper()
    shape = tensor.get("shape")
    if not isinstance(name, str) or not isinstance(shape, list) or not datatype:
        raise _bad("each input needs a name, a shape and a datatype")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _bad(f"input {name!r}: shape {shape} must be a list of non-negative integers")
    if datatype != "BYTES" and datatype not in NUMPY_DATATYPES:
        raise _bad(f"input {name!r}: datatype {datatype!r} is not supported")
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"input {name!r}: binary_data_size must be a non-negative integer")
        raw = bytes(binary[offset : offset + size])
        if len(raw) != size:
            raise _bad(f"input {name!r}: body holds fewer bytes than binary_data_size")
        offset += size
        if datatype == "BYTES":
            values: list[Any] = _decode_bytes(raw)
        else:
            dtype = np.dtype(NUMPY_DATATYPES[datatype])
            if size % dtype.itemsize:
                raise _bad(f"input {name!r}: {size} bytes is not a whole number of {datatype}")
            values = np.frombuffer(raw, dtype=dtype).tolist()
    elif "data" in tensor:
        values = _flatten(tensor["data"])
    else:
        raise _bad(f"input {name!r} has neither data nor binary_data_size")
    if math.prod(shape) != len(values):
        raise _bad(f"input {name!r}: shape {shape} does not match {len(values)} values")
    return values, offset


def decode_rows(
    payload: dict[str, Any], binary: memoryview, names: tuple[str, ...]
) -> list[Record]:
    """Records from an infer request's input tensors."""
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
        raise _bad("'inputs' must be a non-empty list of tensors")
    offset = 0
    columns: dict[str, list[Any]] = {}
    for tensor in inputs:
        values, offset = _tensor_values(tensor, binary, offset)
        shape = [int(d) for d in tensor["shape"]]
        if len(inputs) == 1 and len(shape) == 2 and shape[1] == len(names) and shape[1] > 1:
            width = shape[1]
            return [
                dict(zip(names, values[i : i + width], strict=True))
                for i in range(0, len(values), width)
            ]
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise _bad(
                f"input {tensor['name']!r} has shape {shape}; send one [N] tensor per field, "
                f"or a single [N, {len(names)}] tensor in schema order ({', '.join(names)})"
            )
        columns[tensor["name"]] = values
    unknown = [name for name in columns if names and name not in names]
    if unknown:
        raise _bad(f"unknown input tensor(s) {unknown}; the model's inputs are {list(names)}")
    counts = {len(values) for values in columns.values()}
    if len(counts) != 1:
        raise _bad("input tensors have different batch sizes")
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
    """One tensor per output field (``probabilities`` as an [N, classes] tensor on request).

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


def _declared_outputs(project: Project, output_names: tuple[str, ...]) -> dict[str, str]:
    types = {f.name: SCHEMA_DATATYPES[f.type] for f in project.config.output_schema}
    return {name: types.get(name, "BYTES") for name in output_names}


guarded = guarded_as(render_error)


@guarded
async def server_metadata(request: Request) -> Response:
    return JsonResponse(
        {"name": "nervosum", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


@guarded
async def server_live(request: Request) -> Response:
    return JsonResponse({"live": True})


@guarded
async def server_ready(request: Request) -> Response:
    ready = state_of(request).engine is not None
    return JsonResponse({"ready": ready}, status_code=200 if ready else 400)


@guarded
async def model_ready(request: Request) -> Response:
    project = served_project(request)
    ready = state_of(request).engine is not None
    return JsonResponse(
        {"name": project.config.name, "ready": ready}, status_code=200 if ready else 400
    )


@guarded
async def model_metadata(request: Request) -> Response:
    project = served_project(request)
    config = project.config
    inputs = [
        {"name": f.name, "datatype": SCHEMA_DATATYPES[f.type], "shape": [-1]}
        for f in config.input_schema
    ]
    outputs = [
        {"name": f.name, "datatype": SCHEMA_DATATYPES[f.type], "shape": [-1]}
        for f in config.output_schema
    ]
    return JsonResponse(
        {
            "name": config.name,
            "versions": [config.tag],
            "platform": "nervosum",
            "inputs": inputs,
            "outputs": outputs or [{"name": "prediction", "datatype": "BYTES", "shape": [-1]}],
        }
    )


def _decode_request(
    body: bytes, split: int, inputs: RecordSchema, max_rows: int | None
) -> tuple[dict[str, Any], list[Record]]:
    """The JSON header and the validated records of an infer request (JSON header first,
    then binary tensors from byte ``split``)."""
    payload = load_json(body[:split], allow_inf_nan=True)
    if not isinstance(payload, dict):
        raise _bad("the request must be a JSON object with 'inputs'")
    rows = decode_rows(payload, memoryview(body)[split:], inputs.names)
    check_row_count(len(rows), max_rows)
    return payload, inputs.validate(rows)


@guarded
async def infer(request: Request) -> Response:
    project = served_project(request)
    state = state_of(request)
    engine = state.require_engine()
    settings = state.settings
    body = await read_json_body(
        request,
        settings.max_body_size,
        also=(OCTET_STREAM,),
        text_plain=settings.json_text_plain,
    )
    header = request.headers.get(HEADER_LENGTH)
    split = int(header) if header and header.isdigit() else len(body)
    payload, records = await parse_off_loop(
        body, lambda raw: _decode_request(raw, split, engine.inputs, settings.max_rows)
    )
    requested = payload.get("outputs")
    names = None
    if isinstance(requested, list):
        names = [str(o.get("name")) for o in requested if isinstance(o, dict)]
    outputs = await state.infer(records, proba=bool(names and PROBABILITIES in names))
    response: dict[str, Any] = {
        "model_name": project.config.name,
        "model_version": project.config.tag,
        "outputs": encode_outputs(
            outputs, names, _declared_outputs(project, engine.handle.output_names)
        ),
    }
    if "id" in payload:
        response["id"] = payload["id"]
    return JsonResponse(response)


def _model_routes(prefix: str) -> list[Route]:
    return [
        Route(prefix, model_metadata, methods=["GET"]),
        Route(f"{prefix}/ready", model_ready, methods=["GET"]),
        Route(f"{prefix}/infer", infer, methods=["POST"]),
    ]


ROUTES = [
    Route("/v2", server_metadata, methods=["GET"]),
    Route("/v2/health/live", server_live, methods=["GET"]),
    Route("/v2/health/ready", server_ready, methods=["GET"]),
    *_model_routes("/v2/models/{name}"),
    *_model_routes("/v2/models/{name}/versions/{version}"),
]

__all__ = ["ROUTES", "decode_rows", "encode_outputs"]
