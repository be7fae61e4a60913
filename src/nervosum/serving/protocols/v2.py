"""Open Inference Protocol v2 (KServe v2 / Triton) over REST.

Tabular inputs arrive as one tensor per column (name = field, shape ``[N]`` or
``[N, 1]``) or as a single ``[N, F]`` tensor in schema order; data may be JSON (flat or
nested) or, with the binary tensor extension that ``tritonclient`` uses by default, raw
bytes after the JSON header. Outputs are one tensor per output field, in JSON.
Errors are ``{"error": "<message>"}`` as the protocol specifies.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nervosum.config.types import Record
from nervosum.errors import NervosumError, RequestError
from nervosum.model.outputs import PROBABILITIES
from nervosum.schema.records import RecordSchema
from nervosum.serving.body import check_row_count, load_json, parse_off_loop, read_json_body
from nervosum.serving.guard import guarded_as, state_of
from nervosum.serving.protocols import tensors
from nervosum.serving.protocols.naming import served_project
from nervosum.serving.protocols.tensors import (
    InputTensor,
    check_header,
    checked,
    declared_outputs,
    encode_outputs,
    raw_values,
    rows_of,
)
from nervosum.serving.responses import JsonResponse

HEADER_LENGTH = "inference-header-content-length"
OCTET_STREAM = "application/octet-stream"


def render_error(error: NervosumError, expose_details: bool) -> JsonResponse:
    return JsonResponse(
        {"error": error.to_record(expose_details=expose_details)["message"]},
        status_code=error.http_status,
    )


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [value for item in data for value in _flatten(item)]
    return data if isinstance(data, list) else [data]


def _tensor(tensor: dict[str, Any], binary: memoryview, offset: int) -> tuple[InputTensor, int]:
    """One JSON input tensor (its data inline, or ``binary_data_size`` bytes of the binary
    part from ``offset``) and where the next one's bytes start."""
    name = tensor.get("name")
    datatype = str(tensor.get("datatype", "")).upper()
    shape = tensor.get("shape")
    check_header(name, datatype, shape)
    assert isinstance(name, str) and isinstance(shape, list)
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RequestError(f"input {name!r}: binary_data_size must be a non-negative integer")
        raw = bytes(binary[offset : offset + size])
        if len(raw) != size:
            raise RequestError(f"input {name!r}: body holds fewer bytes than binary_data_size")
        values = raw_values(name, datatype, raw)
        offset += size
    elif "data" in tensor:
        values = _flatten(tensor["data"])
    else:
        raise RequestError(f"input {name!r} has neither data nor binary_data_size")
    return checked(name, datatype, shape, values), offset


def decode_rows(
    payload: dict[str, Any], binary: memoryview, names: tuple[str, ...]
) -> list[Record]:
    """Records from an infer request's input tensors."""
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
        raise RequestError("'inputs' must be a non-empty list of tensors")
    offset = 0
    decoded = []
    for tensor in inputs:
        one, offset = _tensor(tensor, binary, offset)
        decoded.append(one)
    return rows_of(decoded, names)


guarded = guarded_as(render_error)


@guarded
async def server_metadata(request: Request) -> Response:
    return JsonResponse(tensors.server_metadata(["binary_tensor_data"]))


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
    return JsonResponse(tensors.model_metadata(served_project(request)))


def _decode_request(
    body: bytes, split: int, inputs: RecordSchema, max_rows: int | None
) -> tuple[dict[str, Any], list[Record]]:
    """The JSON header and the validated records of an infer request (JSON header first,
    then binary tensors from byte ``split``)."""
    payload = load_json(body[:split], allow_inf_nan=True)
    if not isinstance(payload, dict):
        raise RequestError("the request must be a JSON object with 'inputs'")
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
    model_name, model_version = state.answering_model()
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": encode_outputs(
            outputs, names, declared_outputs(project, engine.handle.output_names)
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

__all__ = ["ROUTES", "decode_rows"]
