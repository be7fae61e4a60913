"""The machine-learning-microservice-template's API, for the models that template serves.

Clients of that template call ``POST /api/predictions`` (a JSON list in,
``[{"class_name"}]`` out), ``POST /api/proba_predictions`` (classifiers:
``[{"class_names", "probabilities"}]``) and ``GET /ping``. These routes answer when the
served model is a :class:`~nervosum.training.TrainedModel` or the template's own pickled
``source.model.mdl.Model`` (a checkout of the template, issue 19); for any other model
they are the 404 of an unknown route (``/ping`` stays the MLflow protocol's readiness
check).

Requests are validated by the project's input schema (typed fields, plus the id field
when one is configured) and predicted through ``ServingState.infer``, so batching, the
timeout, the metrics and the prediction log treat them like ``/predict``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nervosum.config.types import Record
from nervosum.detect.template import MODEL_MODULE
from nervosum.engine import Engine
from nervosum.errors import InputValidationError, NotFoundError
from nervosum.model.outputs import PROBABILITIES
from nervosum.serving.body import check_row_count, load_json, parse_off_loop, read_json_body
from nervosum.serving.guard import guarded, state_of
from nervosum.serving.protocols import mlflow
from nervosum.serving.responses import JsonResponse
from nervosum.serving.state import ServingState
from nervosum.training.artifact import TrainedModel

PREDICTIONS = "/api/predictions"
PROBA_PREDICTIONS = "/api/proba_predictions"
# The routes whose answers are predictions, for the front door's prediction log.
PREDICTION_PATHS = frozenset({PREDICTIONS, PROBA_PREDICTIONS})
# What a JSON value that is not a list is called in the 422's message.
_JSON_KINDS: dict[type, str] = {
    dict: "an object",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _is_template_model(instance: object) -> bool:
    """[compat] The template's ``Model`` (``source/model/mdl.py``), pickled by its own
    training or by ``nervosum train`` on a checkout of it."""
    kind = type(instance)
    return kind.__module__ == MODEL_MODULE and kind.__name__ == "Model"


def _trained(engine: Engine) -> bool:
    """Whether the served model is one the template's routes belong to."""
    instance = engine.handle.loaded.instance
    return isinstance(instance, TrainedModel) or _is_template_model(instance)


def _require_trained(state: ServingState, path: str) -> Engine:
    engine = state.require_engine()
    if not _trained(engine):
        raise NotFoundError(
            f"no route {path}",
            hint=f"{path} serves models saved by `nervosum train` or the microservice template;"
            " this one answers POST /predict",
        )
    return engine


async def _listed_records(state: ServingState, request: Request) -> list[Record]:
    """The body's records; the template takes a list only (one object is a 422)."""
    settings = state.settings
    body = await read_json_body(
        request, settings.max_body_size, text_plain=settings.json_text_plain
    )
    if body.lstrip()[:1] != b"[":
        value = load_json(body, allow_inf_nan=True)  # 400 when it is not JSON at all
        kind = _JSON_KINDS[type(value)]
        raise InputValidationError(
            f"the body must be a JSON list of records, not {kind}",
            hint="wrap a single record in [ ]",
            details=[{"loc": [], "msg": "Input should be a valid list", "type": "list_type"}],
        )
    records, _ = await parse_off_loop(body, state.runtime.parse)
    check_row_count(len(records), settings.max_rows)
    return records


def _answer(output: Record, id_field: str | None) -> tuple[dict[str, Any], Any]:
    """The id echo (when the request carried one) and the predicted value of ``output``."""
    echo = {id_field: output[id_field]} if id_field and id_field in output else {}
    skipped = {PROBABILITIES, id_field}
    predicted = next(value for key, value in output.items() if key not in skipped)
    return echo, predicted


@guarded
async def predictions(request: Request) -> Response:
    state = state_of(request)
    engine = _require_trained(state, PREDICTIONS)
    outputs = await state.infer(await _listed_records(state, request), proba=False)
    answers = []
    for output in outputs:
        echo, predicted = _answer(output, engine.id_field)
        answers.append({**echo, "class_name": str(predicted)})
    return JsonResponse(answers)


@guarded
async def proba_predictions(request: Request) -> Response:
    state = state_of(request)
    engine = _require_trained(state, PROBA_PREDICTIONS)
    if not engine.handle.is_classifier:
        raise NotFoundError(
            f"no route {PROBA_PREDICTIONS}: the model is a regression, without class probabilities",
            hint=f"use POST {PREDICTIONS}",
        )
    outputs = await state.infer(await _listed_records(state, request), proba=True)
    answers = []
    for output in outputs:
        echo, _ = _answer(output, engine.id_field)
        probabilities: dict[str, float] = output[PROBABILITIES]
        answers.append(
            {
                **echo,
                "class_names": list(probabilities),
                "probabilities": list(probabilities.values()),
            }
        )
    return JsonResponse(answers)


@guarded
async def ping(request: Request) -> Response:
    """The template's liveness answer for a trained model; MLflow's ``/ping`` otherwise."""
    engine = state_of(request).engine
    if engine is None or not _trained(engine):
        return await mlflow.ping(request)
    return JsonResponse({"ping": "pong"})


ROUTES = [
    Route(PREDICTIONS, predictions, methods=["POST"]),
    Route(PROBA_PREDICTIONS, proba_predictions, methods=["POST"]),
    Route("/ping", ping, methods=["GET"]),
]
