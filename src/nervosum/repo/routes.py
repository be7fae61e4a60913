"""The multi-model server's HTTP routes.

Seed routes (model-serving-framework): ``POST /<base>/<Folder>`` with ``{"variables":
...}`` answers that model's dict, ``POST /<base>/all`` merges every ready model's dict
in folder-name order (later keys win), ``POST /<base>/refactor`` refreshes (the seed's
route, a GET that answered 500; a GET now answers 405: a refresh changes the server, and
any web page can make a browser send a GET, issue 20). Native routes:
``POST /models/<name>/predict`` (the single-model ``/predict`` contract), ``GET /models``,
the refresh report, health, metrics, the Open Inference Protocol's model repository
extension, and a model's champion and challenger (``/models/<name>/arms``, ``promote``,
``rollback``: the single-model server's handlers, on the model the path names).

A handler that answers for one model leases that model's serving version and leaves its
state in the scope, so the middleware counts and logs the request under that model; its
errors show the details that model's ``errors.expose_details`` allows (issue 20: the
server's own setting used to decide for every model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from nervosum.config.spec import ServerSpec
from nervosum.config.types import Record
from nervosum.errors import MethodNotAllowedError, NervosumError, NotReadyError
from nervosum.observe.merge import merged_exposition
from nervosum.repo.fleet import ModelFleet
from nervosum.repo.slots import ModelSlot
from nervosum.repo.variables import parse_variables
from nervosum.repo.variants import CHALLENGER_FOLDER, transforming
from nervosum.serving.arms import Arms
from nervosum.serving.body import load_json, read_json_body
from nervosum.serving.guard import guarded_as, native_error
from nervosum.serving.responses import JsonResponse, error_response
from nervosum.serving.routes import arms_of, predict_with, promoted, query_flag, rolled_back
from nervosum.serving.state import ServingState

SEED_HOME = "works!"  # what the seed's / and /<base>/ answered
STATE_KEY = "nervosum.state"  # the scope keys the middleware reads
METRICS_KEY = "nervosum.metrics"
MAX_BODY = ServerSpec().max_body_size  # the single-model server's default

log = logging.getLogger("nervosum.repo")
# Whether the model a request leased shows error details; a context variable because the
# guard renders the error after the handler (and its lease) has ended, in the same task.
_exposes: ContextVar[bool] = ContextVar("nervosum.repo.expose_details", default=True)


def fleet_of(request: Request) -> ModelFleet:
    fleet: ModelFleet = request.app.state.fleet
    return fleet


def model_error(error: NervosumError, expose_details: bool) -> JsonResponse:
    """The native error, with details only if the server and the answering model allow."""
    shown = expose_details and _exposes.get()
    if error.details and expose_details and not shown:
        # Hidden from the client by the model's errors.expose_details, kept for operators.
        log.warning("%s: %s %s", error.code, error.message, error.details)
    return native_error(error, shown)


guarded = guarded_as(model_error)


@contextmanager
def _leased(request: Request, slot: ModelSlot) -> Iterator[ServingState]:
    """The slot's serving version for this request, counted and shown as that model's."""
    with slot.lease() as state:
        request.scope[STATE_KEY] = state
        _exposes.set(state.expose_details)
        yield state


def _slot(request: Request) -> ModelSlot:
    """The model the path names; its requests count in its metrics, answered or not."""
    slot = fleet_of(request).slot(request.path_params["name"])
    if slot.metrics is not None:
        request.scope[METRICS_KEY] = slot.metrics
    return slot


async def _seed_answer(state: ServingState, records: list[Record], many: bool) -> Record:
    """A model's answer to a seed request, always a dict: an ``etls.py`` model's own dict
    (its champion's, beside a challenger); for other models the output record (one row)
    or ``{"predictions": [...]}`` (rows)."""
    state.require_engine()
    records = state.runtime.validate(records)
    champion = transforming(state)
    if champion.require_engine().handle.per_record:
        return await champion.transform(records)
    outputs = await state.infer(records, proba=True)
    return {"predictions": outputs} if many else outputs[0]


@guarded
async def home(request: Request) -> Response:
    return PlainTextResponse(SEED_HOME)


@guarded
async def seed_predict(request: Request) -> Response:
    slot = _slot(request)
    body = await read_json_body(request, MAX_BODY)
    records, many = parse_variables(body)
    with _leased(request, slot) as state:
        return JsonResponse(await _seed_answer(state, records, many))


async def _each(slot: ModelSlot, records: list[Record], many: bool) -> Record | NervosumError:
    try:
        with slot.lease() as state:
            return await _seed_answer(state, records, many)
    except NervosumError as exc:
        return exc


@guarded
async def seed_all(request: Request) -> Response:
    """Every ready model on the same variables; failed or unready ones are left out of the
    merge (named in ``X-Models-Skipped``), and shown as errors with ``?by_model=true``."""
    fleet = fleet_of(request)
    by_model = query_flag(request, "by_model", default=False)
    body = await read_json_body(request, MAX_BODY)
    records, many = parse_variables(body)
    slots = fleet.ordered()
    answers = await asyncio.gather(*(_each(slot, records, many) for slot in slots))
    skipped = [s.name for s, a in zip(slots, answers, strict=True) if isinstance(a, BaseException)]
    headers = {"X-Models-Skipped": ",".join(skipped)} if skipped else None
    if by_model:
        shown = {
            slot.name: answer
            if isinstance(answer, dict)
            else {"error": answer.to_record(expose_details=slot.expose_details)}
            for slot, answer in zip(slots, answers, strict=True)
        }
        return JsonResponse(shown, headers=headers)
    merged: Record = {}
    for answer in answers:
        if not isinstance(answer, NervosumError):
            merged.update(answer)
    return JsonResponse(merged, headers=headers)


@guarded
async def native_predict(request: Request) -> Response:
    with _leased(request, _slot(request)) as state:
        return await predict_with(state, request)


@guarded
async def models(request: Request) -> Response:
    fleet = fleet_of(request)
    return JsonResponse({"source": fleet.source.description, "models": fleet.describe()})


@guarded
async def model(request: Request) -> Response:
    slot = _slot(request)
    entry = slot.describe()
    if slot.current is not None and slot.current.state.engine is not None:
        entry.update(slot.current.state.engine.schema())
    return JsonResponse(entry)


def _model_arms(state: ServingState) -> Arms:
    name = state.project.config.name
    hint = f"add a {CHALLENGER_FOLDER}/ folder or a variants: block to {name}/, see docs/repo.md"
    return arms_of(state, f"model {name}", hint)


@guarded
async def model_arms(request: Request) -> Response:
    """``GET /models/<name>/arms``: the model's champion and challenger, with figures."""
    with _leased(request, _slot(request)) as state:
        return JsonResponse(_model_arms(state).report())


@guarded
async def model_promote(request: Request) -> Response:
    """``POST /models/<name>/promote`` (admin): until the folder's next reload."""
    with _leased(request, _slot(request)) as state:
        return promoted(request, _model_arms(state))


@guarded
async def model_rollback(request: Request) -> Response:
    """``POST /models/<name>/rollback`` (admin): undo the model's last promotion."""
    with _leased(request, _slot(request)) as state:
        return rolled_back(request, _model_arms(state))


@guarded
async def refresh_start(request: Request) -> Response:
    """Start a refresh: POST only, on ``/-/refresh`` and the seed's ``/refactor``."""
    if request.method != "POST":
        path = request.url.path
        error = MethodNotAllowedError(
            f"{request.method} {path} does not refresh: a refresh changes the server, so it"
            " takes a POST (a GET can be sent by any web page a browser opens)",
            hint=f"POST {path}",
        )
        request.scope["nervosum.error"] = error.code
        return error_response(error, headers={"Allow": "POST"})
    report = fleet_of(request).trigger("request")
    return JsonResponse({"refresh_id": report.id, "status": report.status}, status_code=202)


@guarded
async def refresh_report(request: Request) -> Response:
    report = fleet_of(request).last
    return JsonResponse(report.to_dict() if report is not None else {"status": "never"})


@guarded
async def live(request: Request) -> Response:
    return JsonResponse({"status": "alive"})


@guarded
async def ready(request: Request) -> Response:
    fleet = fleet_of(request)
    if not fleet.started:
        raise NotReadyError("the models are still loading")
    counts: dict[str, int] = {}
    for slot in fleet.ordered():
        counts[slot.status] = counts.get(slot.status, 0) + 1
    return JsonResponse({"status": "ready", "models": counts})


@guarded
async def metrics(request: Request) -> Response:
    from nervosum.observe.metrics import CONTENT_TYPE

    fleet = fleet_of(request)
    for metrics in fleet.all_metrics():
        metrics.sample()
    page = merged_exposition(fleet.registries())
    return Response(page, media_type=CONTENT_TYPE)


@guarded
async def v2_index(request: Request) -> Response:
    sent = request.headers.get("content-length", "0") != "0"
    options = load_json(await read_json_body(request, MAX_BODY)) if sent else {}
    ready_only = bool(isinstance(options, dict) and options.get("ready"))
    entries = [slot.index_entry() for slot in fleet_of(request).ordered()]
    return JsonResponse([e for e in entries if e["state"] == "READY" or not ready_only])


@guarded
async def v2_load(request: Request) -> Response:
    await fleet_of(request).load(request.path_params["name"])
    return JsonResponse({})


@guarded
async def v2_unload(request: Request) -> Response:
    await fleet_of(request).unload(request.path_params["name"])
    return JsonResponse({})
