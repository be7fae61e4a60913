"""``graph serve``: the whole graph behind HTTP, in one process.

``POST /predict`` takes one message (a JSON object) or a list of them, runs each
through every step it reaches and answers with what reached the graph's final streams:
``{"outputs": [{"stream", "key", "message"}], "dead_letters": [...]}``. A message
without the partition key gets a generated one, so clients need not invent keys. A
request whose every message was dead-lettered answers 422 with the reasons; converge
groups must complete within the request. A graph with several entry streams takes
``?into=STREAM``. The steps' code runs on one thread, so a step class need not be
thread-safe (a project step's model runs on its own model thread); the models load once,
before the server starts, so a step that cannot load stops the command with its error.
With ``auth`` on (``--api-keys-file``, ``--jwks-file``
or ``NERVOSUM_API_KEYS``) every route but health needs a key; ``/metrics`` the admin scope.

The app is a model server's: the same front door (gate, request ids, HTTP metrics), the
same guarded handlers and JSON errors (unknown routes, failures), the same metric names
with the graph's name as ``model``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nervosum.config.spec import AuthSpec, ServerSpec
from nervosum.errors import InputValidationError, RequestError, StepError
from nervosum.graph.local import GraphCode, LocalRun
from nervosum.graph.process import non_finite
from nervosum.observe.merge import merged_exposition
from nervosum.observe.metrics import CONTENT_TYPE, RequestMetrics, keep_sampled
from nervosum.predict.runtime import user_code_thread
from nervosum.serving.app import http_errors
from nervosum.serving.auth import load_gate
from nervosum.serving.body import load_json, parse_off_loop, read_json_body
from nervosum.serving.exchange import current as current_exchange
from nervosum.serving.front import FrontedApp, install_front_door
from nervosum.serving.guard import guarded
from nervosum.serving.responses import JsonResponse


class GraphMetrics(RequestMetrics):
    """A served graph's HTTP traffic (labelled ``model=<graph>``) and its dead letters."""

    def __init__(self, graph: str) -> None:
        super().__init__(graph)
        self.letters = Counter(
            f"{self.prefix}_graph_dead_letters",
            "Messages a step refused, by step.",
            ["graph", "step"],
            registry=self.registry,
        )
        self.graph = graph


def _messages(body: bytes, partition_key: str) -> list[bytes]:
    """The request's messages as JSON bytes, each with a partition key."""
    value: Any = load_json(body)
    items = value if isinstance(value, list) else [value]
    if not items:
        raise RequestError("the body is an empty list: send a message or a list of messages")
    messages = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"item {index}" if isinstance(value, list) else "the body"
            raise RequestError(f"{where} is {type(item).__name__}: a message is a JSON object")
        where = f"item {index}" if isinstance(value, list) else "the body"
        found = non_finite(item)
        if found is not None:
            path, number = found
            message = f"{where}: {path} is {number}, which JSON cannot hold"
            raise InputValidationError(
                message, details=[{"loc": [index, *path.split(".")], "msg": message}]
            )
        item.setdefault(partition_key, uuid.uuid4().hex)
        try:
            messages.append(orjson.dumps(item))
        except TypeError as exc:  # an integer past 64 bits
            raise RequestError(f"{where} holds a value JSON cannot carry: {exc}") from None
    return messages


def _entry(request: Request, entries: list[str]) -> str:
    """The stream a request feeds: ``?into=STREAM``, or the graph's only entry."""
    into = request.query_params.get("into")
    if into is None and len(entries) == 1:
        return entries[0]
    if into in entries:
        return into
    raise RequestError(
        f"?into={into!r} is not an entry stream" if into else "the graph has several entries",
        hint=f"POST /predict?into=STREAM, one of: {', '.join(entries)}",
    )


def _lifespan(
    code: GraphCode, metrics: RequestMetrics, state: dict[str, Any]
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's start and stop: the code thread (in ``state``), the live-gauge sampler,
    the project steps' runtimes."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        executor = user_code_thread("graph")
        state["executor"] = executor
        sampling = asyncio.get_running_loop().create_task(keep_sampled(lambda: [metrics]))
        try:
            await code.start()
            yield
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            try:
                await code.close()
            finally:
                executor.shutdown(wait=True)

    return lifespan


def create_graph_app(
    code: GraphCode, *, auth: AuthSpec | None = None, settings: ServerSpec | None = None
) -> Starlette:
    """The app for a graph whose steps' code (and models) ``code`` loaded; ``auth`` (off
    by default) guards it."""
    state: dict[str, Any] = {}
    spec = code.spec
    metrics = GraphMetrics(spec.slug)
    gate = load_gate(
        auth or AuthSpec(),
        admin_rate_limit=(settings or ServerSpec()).admin_rate_limit,
        on_failure=metrics.auth.failed,
    )
    entries = spec.entry_streams
    max_body = (settings or ServerSpec()).max_body_size

    lifespan = _lifespan(code, metrics, state)

    @guarded
    async def predict(request: Request) -> Response:
        stream = _entry(request, entries)
        body = await read_json_body(request, max_body)
        messages = await parse_off_loop(body, lambda b: _messages(b, spec.partition_key))
        exchange = current_exchange()
        request_id = exchange.request_id if exchange is not None else uuid.uuid4().hex
        run = LocalRun(code, executor=state["executor"], label=request_id)
        for index, message in enumerate(messages):
            await run.feed(stream, message, f"{request_id}/{index}")
        await run.finish()
        for letter in run.letters:
            metrics.letters.labels(metrics.graph, letter.step).inc()
        letters = [letter.to_record(spec.slug) for letter in run.letters]
        outputs = [{"stream": e.stream, "key": e.key, "message": e.message} for e in run.results]
        answer: dict[str, Any] = {"outputs": outputs, "dead_letters": letters}
        if letters and not outputs:  # nothing came through: an error, in the one shape
            failure = StepError(
                f"every message was dead-lettered; the first: {letters[0]['reason']}",
                details=[{"loc": [letter["step"]], "msg": letter["reason"]} for letter in letters],
            )
            request.scope["nervosum.error"] = failure.code
            answer["error"] = failure.to_record()
            return JsonResponse(answer, status_code=failure.http_status)
        return JsonResponse(answer)

    @guarded
    async def live(_request: Request) -> Response:
        return JsonResponse({"status": "alive"})

    @guarded
    async def ready(_request: Request) -> Response:
        return JsonResponse({"status": "ready"})  # the steps loaded before the server started

    @guarded
    async def describe(_request: Request) -> Response:
        return JsonResponse(
            {"graph": spec.slug, "entry_streams": entries, "final_streams": spec.final_streams}
            | {"steps": [s.name for s in spec.steps]}
        )

    @guarded
    async def exposition(_request: Request) -> Response:
        metrics.sample()
        page = merged_exposition([metrics.registry, *code.registries()])
        return Response(page, media_type=CONTENT_TYPE)

    routes = [
        Route("/predict", predict, methods=["POST"]),
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/graph", describe),
        Route("/metrics", exposition, methods=["GET", "POST"]),
    ]
    app = FrontedApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_errors("POST /predict runs the graph")},
    )
    app.router.redirect_slashes = False  # unknown paths get a JSON 404, never a redirect
    app.state.expose_details = True
    install_front_door(
        app,
        gate=gate,
        metrics=metrics,
        target=lambda scope: (metrics, None),
        prediction_routes=frozenset({"/predict"}),  # answered with X-Request-ID
    )
    return app
