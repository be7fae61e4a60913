"""Assemble the multi-model server's ASGI app (``nervosum serve-repo``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import Scope

from nervosum.config.spec import AuthSpec, ServerSpec
from nervosum.observe.metrics import RequestMetrics, keep_sampled
from nervosum.repo import routes
from nervosum.repo.cron import CronSchedule
from nervosum.repo.fleet import ModelFleet
from nervosum.repo.schedule import refresh_on_change, refresh_on_schedule
from nervosum.serving.app import http_errors
from nervosum.serving.auth import load_gate
from nervosum.serving.exchange import PREDICTION_ROUTES
from nervosum.serving.front import Attribution, FrontedApp, install_front_door
from nervosum.serving.state import ServingState

NATIVE_PREDICT = "/models/{name}/predict"


def _routes(base: str) -> list[Route]:
    prefix = f"/{base}"
    return [
        Route("/", routes.home, methods=["GET", "POST"]),
        Route(f"{prefix}/", routes.home, methods=["GET", "POST"]),
        Route(prefix, routes.home, methods=["GET", "POST"]),
        Route(f"{prefix}/all", routes.seed_all, methods=["POST"]),
        Route(f"{prefix}/-/refresh", routes.refresh_start, methods=["POST"]),
        Route(f"{prefix}/-/refresh", routes.refresh_report, methods=["GET"]),
        # [compat] the seed refreshed on GET /refactor: POST refreshes, GET answers 405.
        Route(f"{prefix}/refactor", routes.refresh_start, methods=["GET", "POST"]),
        Route(f"{prefix}/{{name}}", routes.seed_predict, methods=["POST"]),
        Route("/models", routes.models, methods=["GET"]),
        Route("/models/{name}", routes.model, methods=["GET"]),
        Route(NATIVE_PREDICT, routes.native_predict, methods=["POST"]),
        Route("/models/{name}/arms", routes.model_arms, methods=["GET"]),
        Route("/models/{name}/promote", routes.model_promote, methods=["POST"]),
        Route("/models/{name}/rollback", routes.model_rollback, methods=["POST"]),
        Route("/health/live", routes.live, methods=["GET"]),
        Route("/health/ready", routes.ready, methods=["GET"]),
        Route("/metrics", routes.metrics, methods=["GET", "POST"]),
        Route("/v2/repository/index", routes.v2_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", routes.v2_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", routes.v2_unload, methods=["POST"]),
    ]


def _attribution(fleet: ModelFleet) -> Attribution:
    """The model a handler named in the scope (its metrics, and its state once leased);
    the server's own metrics for everything else."""

    def attribute(scope: Scope) -> tuple[RequestMetrics, ServingState | None]:
        state: ServingState | None = scope.get(routes.STATE_KEY)
        metrics: RequestMetrics | None = scope.get(routes.METRICS_KEY)
        return metrics or fleet.metrics, state

    return attribute


def create_repo_app(
    fleet: ModelFleet,
    *,
    schedule: CronSchedule | None = None,
    watch_interval: float | None = None,
    auth: AuthSpec | None = None,
    settings: ServerSpec | None = None,
) -> Starlette:
    """The app serving every model of ``fleet``; models load in the background at startup
    (``/health/live`` answers at once, ``/health/ready`` once the first load is done).

    ``auth`` (off by default) guards every route but health; refresh, load, unload, the
    index and a model's promote and rollback need the admin scope and are limited to
    ``server.admin_rate_limit`` a minute per client address. ``settings`` (the
    ``server:`` defaults when not given) with a ``grpc_port`` also serves every model
    over gRPC.
    """
    settings = settings or ServerSpec()
    gate = load_gate(
        auth or AuthSpec(),
        admin_rate_limit=settings.admin_rate_limit,
        base=fleet.base_url,
        on_failure=fleet.metrics.auth.failed,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        fleet.trigger("startup")
        loops: list[Coroutine[Any, Any, None]] = []
        if schedule is not None:
            loops.append(refresh_on_schedule(fleet, schedule))
        if watch_interval is not None:
            loops.append(refresh_on_change(fleet, watch_interval))
        loops.append(keep_sampled(fleet.all_metrics))
        tasks = [asyncio.get_running_loop().create_task(loop) for loop in loops]
        beside = None
        try:
            if settings.grpc_port is not None:
                from nervosum.repo.inference_grpc import grpc_for_fleet

                beside = await grpc_for_fleet(settings, fleet, gate)
                app.drains.append(beside.begin_stop)
            yield
        finally:
            if beside is not None:
                await beside.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await fleet.close()

    base = fleet.base_url
    app = FrontedApp(
        debug=False,
        routes=_routes(base),
        exception_handlers={
            HTTPException: http_errors(f"POST /{base}/<model>; GET /models lists the models")
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.fleet = fleet
    app.state.expose_details = True
    app.state.gate = gate  # who promoted a model, for its audit record
    predictions = PREDICTION_ROUTES | {f"/{base}/{{name}}", NATIVE_PREDICT}
    install_front_door(
        app,
        gate=gate,
        metrics=fleet.metrics,
        target=_attribution(fleet),
        prediction_routes=frozenset(predictions),
    )
    return app
