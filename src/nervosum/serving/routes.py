"""The HTTP routes of a single-model server: native JSON prediction plus introspection.

Handlers only translate: they read bytes, ask the engine, and write bytes. Every error
becomes the one JSON error shape through :func:`~nervosum.serving.guard.guarded`.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from nervosum import __version__
from nervosum.config.types import Record
from nervosum.errors import ConflictError, RequestError
from nervosum.observe.feedback import parse_feedback
from nervosum.observe.memory import workers_memory
from nervosum.predict.runtime import answer
from nervosum.serving.arms import Arms
from nervosum.serving.auth.denial import who
from nervosum.serving.body import (
    FORM,
    check_row_count,
    json_args_rows,
    parse_off_loop,
    read_body,
    read_json_body,
)
from nervosum.serving.docs import docs_page, home_page
from nervosum.serving.guard import guarded, state_of
from nervosum.serving.openapi import build_openapi
from nervosum.serving.responses import JsonResponse
from nervosum.serving.state import ServingState


@functools.lru_cache(maxsize=256)
def _query(query_string: bytes) -> dict[str, str]:
    """A query string's parameters (the last of repeated ones, as Starlette's ``get``).
    Clients send the same few query strings over and over: each is parsed once."""
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def query_flag(request: Request, name: str, default: bool) -> bool:
    """A boolean query parameter (``1/true/yes/on``, ``0/false/no/off``); 400 otherwise."""
    query_string = request.scope["query_string"]
    if not query_string:  # the usual request: nothing to parse
        return default
    value = _query(query_string).get(name)
    if value is None:
        return default
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise RequestError(
        f"query parameter {name}={value!r} is not a boolean", hint=f"use {name}=false"
    )


@guarded
async def predict(request: Request) -> Response:
    return await predict_with(state_of(request), request)


async def predict_with(state: ServingState, request: Request) -> Response:
    """The native prediction: a JSON record or array in, the model's records out; or
    nachlass's form ``json_args=<JSON list>``, answered with the list of predictions."""
    engine = state.require_engine()
    runtime = state.runtime
    settings = state.settings
    media, body = await read_body(
        request, settings.max_body_size, also=(FORM,), text_plain=settings.json_text_plain
    )
    if media == FORM:
        rows = await parse_off_loop(body, lambda raw: json_args_rows(raw, engine.inputs.names))
        check_row_count(len(rows), settings.max_rows)
        outputs = await state.infer(runtime.validate(rows), proba=False)
        return JsonResponse([_prediction(output) for output in outputs])
    records, many = await parse_off_loop(body, runtime.parse)
    check_row_count(len(records), settings.max_rows)
    outputs = await state.infer(records, proba=query_flag(request, "proba", default=True))
    return JsonResponse(answer(outputs, many))


@guarded
async def explain(request: Request) -> Response:
    """Attributions (docs/monitoring.md): the body of ``/predict``; ``?class=`` names
    the class explained (the predicted one by default, ``all`` for every class)."""
    state = state_of(request)
    state.answering.require_engine()  # the 503 while there is none to parse with
    settings = state.settings
    body = await read_json_body(
        request, settings.max_body_size, text_plain=settings.json_text_plain
    )
    records, _ = await parse_off_loop(body, state.runtime.parse)
    return JsonResponse(await state.explain(records, which=query_text(request, "class")))


def query_text(request: Request, name: str) -> str | None:
    """A text query parameter, None when absent."""
    query_string = request.scope["query_string"]
    return _query(query_string).get(name) if query_string else None


def _prediction(output: Record) -> Any:
    """A one-field answer as its value (nachlass answered bare predictions)."""
    if len(output) == 1:
        (value,) = output.values()
        return value
    return output


@guarded
async def feedback(request: Request) -> Response:
    state = state_of(request)
    state.require_engine()
    settings = state.settings
    body = await read_json_body(
        request, settings.max_body_size, text_plain=settings.json_text_plain
    )
    return JsonResponse(state.feedback(parse_feedback(body)))


@guarded
async def info(request: Request) -> Response:
    state = state_of(request)
    body = state.answering.require_engine().info()
    server: dict[str, Any] = {"batching": state.batcher is not None}
    if request.app.state.expose_details:
        server = {"pid": os.getpid(), "workers": await asyncio.to_thread(workers_memory), **server}
    else:
        # errors.expose_details: false shows clients what they need (identity, schemas),
        # not the server's processes, memory or file and module paths.
        del body["model"]
    body["server"] = server
    if state.arms is not None:
        body["arms"] = state.arms.report()
    return JsonResponse(body)


def arms_of(state: ServingState, owner: str, hint: str) -> Arms:
    """The champion and challenger of ``state``, or the 409 saying ``owner`` (this server,
    a serve-repo model) serves no challenger; ``hint`` says how to give it one."""
    if state.arms is None:
        raise ConflictError(f"{owner} has no challenger", hint=hint)
    return state.arms


def promoted(request: Request, arms: Arms) -> Response:
    """Make the challenger the champion (admin scope), audited with who asked (the gate
    of the app serving ``request`` knows)."""
    return JsonResponse(arms.promote(who(request.app.state.gate, request.scope)))


def rolled_back(request: Request, arms: Arms) -> Response:
    """Undo the last promotion (admin scope), audited with who asked."""
    return JsonResponse(arms.rollback(who(request.app.state.gate, request.scope)))


def _arms(state: ServingState) -> Arms:
    return arms_of(state, "this server", "serve with --challenger PATH (docs/variants.md)")


@guarded
async def arms(request: Request) -> Response:
    return JsonResponse(_arms(state_of(request)).report())


@guarded
async def promote(request: Request) -> Response:
    return promoted(request, _arms(state_of(request)))


@guarded
async def rollback(request: Request) -> Response:
    return rolled_back(request, _arms(state_of(request)))


@guarded
async def card(request: Request) -> Response:
    """The model card of the model answering now (docs/monitoring.md, "Model card"): the
    dependencies are resolved on a thread (it reads installed packages' metadata)."""
    engine = state_of(request).answering.require_engine()
    return JsonResponse(await asyncio.to_thread(engine.card))


@guarded
async def schema(request: Request) -> Response:
    return JsonResponse(state_of(request).answering.require_engine().schema())


@guarded
async def live(request: Request) -> Response:
    return JsonResponse({"status": "alive"})


@guarded
async def ready(request: Request) -> Response:
    engine = state_of(request).answering.require_engine()
    return JsonResponse({"status": "ready", "model": engine.name})


@guarded
async def metrics(request: Request) -> Response:
    from nervosum.observe.metrics import CONTENT_TYPE

    return Response(state_of(request).metrics.exposition(), media_type=CONTENT_TYPE)


@guarded
async def openapi(request: Request) -> Response:
    state = state_of(request)
    if state.openapi is None:
        engine = state.engine
        document = build_openapi(
            state.project,
            version=__version__,
            classifier=bool(engine and engine.handle.is_classifier),
        )
        if engine is None:
            return JsonResponse(document)  # not cached: probabilities are known after load
        state.openapi = document
    return JsonResponse(state.openapi)


@guarded
async def docs(request: Request) -> Response:
    config = state_of(request).project.config
    return docs_page(f"{config.name} ({config.tag})")


@guarded
async def home(request: Request) -> Response:
    config = state_of(request).project.config
    return home_page(config.name, config.tag)
