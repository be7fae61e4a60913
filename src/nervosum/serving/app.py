"""Assemble the ASGI app of a single-model server.

Starlette, not FastAPI: the request and response models come from ``nervosum.yaml`` at
run time, so FastAPI's signature-driven validation would add a layer without adding
checks; Starlette's routing costs a fraction of it (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from nervosum.config import Project
from nervosum.config.spec import AuthSpec, ServerSpec
from nervosum.engine import Engine
from nervosum.errors import MethodNotAllowedError, NervosumError, NotFoundError, RequestError
from nervosum.observe.metrics import keep_sampled
from nervosum.serving import protocols, routes, template_routes
from nervosum.serving.arms import serve_both
from nervosum.serving.auth import load_gate
from nervosum.serving.challenger import Preloaded
from nervosum.serving.docs import ASSETS, docs_assets
from nervosum.serving.exchange import PREDICTION_ROUTES
from nervosum.serving.front import FrontedApp, install_front_door
from nervosum.serving.inference_grpc.beside import grpc_for_model
from nervosum.serving.responses import error_response
from nervosum.serving.state import ServingState

_ROUTES = [
    Route("/", routes.home, methods=["GET"]),
    Route("/predict", routes.predict, methods=["POST"]),
    Route("/explain", routes.explain, methods=["POST"]),
    Route("/card", routes.card, methods=["GET"]),
    Route("/feedback", routes.feedback, methods=["POST"]),
    Route("/info", routes.info, methods=["GET"]),
    Route("/metadata", routes.info, methods=["GET"]),  # [compat] seed Nervosum route
    Route("/schema", routes.schema, methods=["GET"]),
    Route("/health/live", routes.live, methods=["GET"]),
    Route("/health/ready", routes.ready, methods=["GET"]),
    Route("/metrics", routes.metrics, methods=["GET", "POST"]),  # [compat] nachlass POSTs
    Route("/openapi.json", routes.openapi, methods=["GET"]),
    Route("/docs", routes.docs, methods=["GET"]),
    Route("/-/arms", routes.arms, methods=["GET"]),
    Route("/-/promote", routes.promote, methods=["POST"]),
    Route("/-/rollback", routes.rollback, methods=["POST"]),
]


def http_errors(not_found_hint: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The router's own 404 / 405 answers in the native JSON error shape."""

    async def handler(request: Request, exc: Exception) -> Response:
        return _http_error(request, exc, not_found_hint)

    return handler


def _http_error(request: Request, exc: Exception, not_found_hint: str) -> Response:
    assert isinstance(exc, HTTPException)
    error: NervosumError
    if exc.status_code == 404:
        error = NotFoundError(f"no route {request.url.path}", hint=not_found_hint)
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        error = MethodNotAllowedError(
            f"{request.method} is not allowed on {request.url.path}",
            hint=f"use {allowed}" if allowed else None,
        )
    else:
        error = RequestError(str(exc.detail))
    request.scope["nervosum.error"] = error.code
    return error_response(error, headers=dict(exc.headers or {}))


def create_app(
    project: Project,
    settings: ServerSpec | None = None,
    *,
    auth: AuthSpec | None = None,
    engine: Engine | None = None,
    challenger: Preloaded | None = None,
    debug: bool = False,
    on_load_failure: Callable[[BaseException], None] | None = None,
    on_loaded: Callable[[], None] | None = None,
) -> Starlette:
    """The ASGI app serving ``project``; pass a loaded ``engine`` to skip background loading
    (and with ``variants:`` the ``challenger`` loaded before, or why it failed to load).

    ``settings`` defaults to the ``server:`` block of the project's nervosum.yaml, ``auth``
    to its ``auth:`` block (a missing keys file or a bad line raises here, before serving).
    ``on_loaded`` runs on the model thread once a background load has succeeded.
    """
    settings = settings or project.config.server
    state = ServingState(
        project,
        settings,
        engine=engine,
        debug=debug,
        on_load_failure=on_load_failure,
        on_loaded=on_loaded,
    )
    if project.config.variants is not None:
        state.arms = serve_both(state, project.config.variants, challenger)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        state.start()
        sampling = asyncio.get_running_loop().create_task(keep_sampled(state.sampled_metrics))
        beside = None
        try:
            beside = await grpc_for_model(settings, state, gate)
            if beside is not None:
                app.drains.append(beside.begin_stop)
            yield
        finally:
            if beside is not None:
                await beside.stop()
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            await state.shutdown()

    app = FrontedApp(
        debug=False,
        routes=[
            *_ROUTES,
            *template_routes.ROUTES,  # before the protocols: its /ping answers trained models
            *protocols.ROUTES,
            Mount(ASSETS, app=docs_assets(), name="docs-assets"),
        ],
        exception_handlers={HTTPException: http_errors("POST /predict; see /docs")},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # unknown paths get a JSON 404, never a redirect
    app.state.nervosum = state
    app.state.expose_details = state.expose_details
    app.state.gate = gate = load_gate(
        auth or project.config.auth,
        admin_rate_limit=settings.admin_rate_limit,
        on_failure=state.metrics.auth.failed,
    )
    install_front_door(
        app,
        gate=gate,
        metrics=state.metrics,
        target=lambda scope: (state.metrics, state),
        prediction_routes=PREDICTION_ROUTES | template_routes.PREDICTION_PATHS,
    )
    return app
