"""The HTTP routes of a single-model server: native JSON prediction plus introspection.

Handlers only translate: they read bytes, ask the engine, and write bytes. Every error
becomes the one JSON error shape through :func:`guarded`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from nervosum import __version__
from nervosum.errors import NervosumError
from nervosum.observe.memory import workers_memory
from nervosum.serving.body import read_json_body
from nervosum.serving.docs import docs_page, home_page
from nervosum.serving.openapi import build_openapi
from nervosum.serving.responses import JsonResponse, error_response
from nervosum.serving.state import ServingState

log = logging.getLogger("nervosum.serving")

Handler = Callable[[Request], Awaitable[Response]]

# Bodies above this are parsed off the event loop so one big batch never stalls the rest.
_PARSE_INLINE_LIMIT = 256 * 1024


def state_of(request: Request) -> ServingState:
    state: ServingState = request.app.state.nervosum
    return state


def guarded(handler: Handler) -> Handler:
    """Turn every exception into the JSON error shape; the server never goes down."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        state = state_of(request)
        try:
            return await handler(request)
        except NervosumError as exc:
            request.scope["nervosum.error"] = exc.code
            if exc.details and not state.expose_details:
                # Hidden from the client (errors.expose_details: false), kept for operators.
                log.warning("%s on %s: %s %s", exc.code, request.url.path, exc.message, exc.details)
            return error_response(exc, expose_details=state.expose_details)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("unexpected error [error_id=%s] on %s", error_id, request.url.path)
            failure = NervosumError(
                f"internal server error (error id {error_id})", error_id=error_id
            )
            request.scope["nervosum.error"] = failure.code
            return error_response(failure, expose_details=False)

    return wrapper


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


@guarded
async def predict(request: Request) -> Response:
    state = state_of(request)
    engine = state.require_engine()
    body = await read_json_body(request, state.settings.max_body_size)
    if len(body) > _PARSE_INLINE_LIMIT:
        records, many = await asyncio.to_thread(engine.inputs.parse_json, body)
    else:
        records, many = engine.inputs.parse_json(body)
    outputs = await state.infer(records, proba=_flag(request, "proba", default=True))
    return JsonResponse(outputs if many else outputs[0])


@guarded
async def info(request: Request) -> Response:
    state = state_of(request)
    body = state.require_engine().info()
    body["server"] = {
        "pid": os.getpid(),
        "workers": await asyncio.to_thread(workers_memory),
        "batching": state.batcher is not None,
    }
    return JsonResponse(body)


@guarded
async def schema(request: Request) -> Response:
    return JsonResponse(state_of(request).require_engine().schema())


@guarded
async def live(request: Request) -> Response:
    return JsonResponse({"status": "alive"})


@guarded
async def ready(request: Request) -> Response:
    engine = state_of(request).require_engine()
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
