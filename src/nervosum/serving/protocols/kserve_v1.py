"""KServe's v1 data plane: ``POST /v1/models/{name}:predict`` with ``{"instances": [...]}``.

Instances are records or positional rows in schema order; the answer is
``{"predictions": [...]}`` (plain values for a single-output model); ``:explain`` takes
the same body and answers ``/explain``'s object (``explanations`` and how they were
made, docs/monitoring.md). Errors are ``{"error": "<message>"}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nervosum.config.types import Record
from nervosum.errors import NervosumError, RequestError
from nervosum.schema.records import RecordSchema
from nervosum.serving.body import check_row_count, load_json, parse_off_loop, read_json_body
from nervosum.serving.guard import guarded_as, state_of
from nervosum.serving.protocols.naming import served_project
from nervosum.serving.protocols.tabular import predictions, require_object, rows_from_instances
from nervosum.serving.responses import JsonResponse


def render_error(error: NervosumError, expose_details: bool) -> JsonResponse:
    message = error.to_record(expose_details=expose_details)["message"]
    return JsonResponse({"error": message}, status_code=error.http_status)


guarded = guarded_as(render_error)


@guarded
async def model_status(request: Request) -> Response:
    name = served_project(request).config.name
    return JsonResponse({"name": name, "ready": state_of(request).engine is not None})


def _records(body: bytes, inputs: RecordSchema, max_rows: int | None) -> list[Record]:
    payload = require_object(load_json(body, allow_inf_nan=True))
    if "instances" not in payload:
        raise RequestError("the body must hold 'instances': a list of rows")
    rows = rows_from_instances(payload["instances"], inputs.names)
    check_row_count(len(rows), max_rows)
    return inputs.validate(rows)


async def _instances(request: Request) -> list[Record]:
    """The request's validated instances (a 503 while the model loads)."""
    served_project(request)
    state = state_of(request)
    engine = state.require_engine()
    settings = state.settings
    body = await read_json_body(
        request, settings.max_body_size, text_plain=settings.json_text_plain
    )
    return await parse_off_loop(body, lambda raw: _records(raw, engine.inputs, settings.max_rows))


@guarded
async def predict(request: Request) -> Response:
    records = await _instances(request)
    state = state_of(request)
    outputs = await state.infer(records, proba=False)
    names = state.require_engine().handle.output_names
    return JsonResponse({"predictions": predictions(outputs, names)})


@guarded
async def explain(request: Request) -> Response:
    records = await _instances(request)
    which = request.query_params.get("class")
    return JsonResponse(await state_of(request).explain(records, which=which))


ROUTES = [
    Route("/v1/models/{name}", model_status, methods=["GET"]),
    Route("/v1/models/{name}:predict", predict, methods=["POST"]),
    Route("/v1/models/{name}:explain", explain, methods=["POST"]),
]
