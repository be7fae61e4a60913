"""The MLflow scoring protocol, so MLflow clients and tooling can call a nervosum model.

``POST /invocations`` takes JSON with one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (as ``mlflow models serve`` does), or ``text/csv`` with a
header row, and answers ``{"predictions": [...]}``. ``/ping`` and ``/health`` tell
readiness, ``/version`` the server version. Errors are ``{"error_code", "message"}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nervosum import __version__
from nervosum.config.types import Record
from nervosum.errors import NervosumError, RequestError
from nervosum.schema.csvrows import csv_rows
from nervosum.schema.records import RecordSchema
from nervosum.serving.body import (
    check_row_count,
    load_json,
    parse_off_loop,
    read_body,
)
from nervosum.serving.guard import guarded_as, state_of
from nervosum.serving.protocols.tabular import (
    predictions,
    require_object,
    rows_from_columns,
    rows_from_instances,
)
from nervosum.serving.responses import JsonResponse

CSV = "text/csv"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")

_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    422: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def render_error(error: NervosumError, expose_details: bool) -> JsonResponse:
    # MLflow reports schema violations as 400 BAD_REQUEST; other statuses keep their meaning.
    status = 400 if error.http_status == 422 else error.http_status
    record = error.to_record(expose_details=expose_details)
    body: dict[str, Any] = {
        "error_code": _ERROR_CODES.get(error.http_status, "INTERNAL_ERROR"),
        "message": record["message"],
    }
    if record["details"]:
        body["details"] = record["details"]
    return JsonResponse(body, status_code=status)


def _split_rows(split: Any) -> list[Record]:
    split = require_object(split)
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        raise RequestError("dataframe_split needs 'columns' (a list) and 'data' (a list of rows)")
    return rows_from_instances(data, [str(c) for c in columns], what="dataframe_split.data")


def rows_from_payload(payload: Any, names: tuple[str, ...]) -> list[Record]:
    """Records from any of MLflow's four JSON input formats (rows may be positional)."""
    payload = require_object(payload)
    given = [key for key in FORMATS if key in payload]
    unknown = sorted(set(payload) - set(FORMATS) - {"params"})
    if len(given) != 1 or unknown:
        raise RequestError(
            f"the body must hold exactly one of {', '.join(FORMATS)}"
            + (f" (unknown keys: {', '.join(unknown)})" if unknown else ""),
            hint='e.g. {"dataframe_records": [{"feature": 1.0}]}',
        )
    key = given[0]
    value = payload[key]
    if key == "dataframe_split":
        return _split_rows(value)
    if key == "inputs" and isinstance(value, dict):
        return rows_from_columns(value)
    return rows_from_instances(value, names, what=key)


guarded = guarded_as(render_error)


def _records(body: bytes, media: str, inputs: RecordSchema, max_rows: int | None) -> list[Record]:
    """The validated records of a JSON or CSV (``media``) body, already in UTF-8."""
    if media == CSV:
        rows: list[Record] = list(csv_rows(body.decode("utf-8", errors="replace")))
    else:
        rows = rows_from_payload(load_json(body, allow_inf_nan=True), inputs.names)
    check_row_count(len(rows), max_rows)
    return inputs.validate(rows)


@guarded
async def invocations(request: Request) -> Response:
    state = state_of(request)
    engine = state.require_engine()
    settings = state.settings
    media, body = await read_body(
        request, settings.max_body_size, also=(CSV,), text_plain=settings.json_text_plain
    )
    records = await parse_off_loop(
        body, lambda raw: _records(raw, media, engine.inputs, settings.max_rows)
    )
    outputs = await state.infer(records, proba=False)
    return JsonResponse({"predictions": predictions(outputs, engine.handle.output_names)})


@guarded
async def ping(request: Request) -> Response:
    state_of(request).require_engine()
    return PlainTextResponse("\n")


@guarded
async def version(request: Request) -> Response:
    return PlainTextResponse(__version__)


ROUTES = [
    Route("/invocations", invocations, methods=["POST"]),
    Route("/ping", ping, methods=["GET"]),
    Route("/health", ping, methods=["GET"]),
    Route("/version", version, methods=["GET"]),
]
