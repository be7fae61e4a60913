"""The outermost layer of every model server: what each request gets before a route runs
and after it answers.

One ASGI callable in front of Starlette's own stack does, for every HTTP request:

- the gate (authentication, scopes, the admin rate limit): a denial is answered here and
  counted, under the route label ``other`` (no route has matched), and never reaches a
  handler or the prediction log;
- the request id: every POST opens an :class:`~nervosum.predlog.events.Exchange` (the
  current one for the handler, a context variable) and a prediction route's answer gets
  ``X-Request-ID`` (and ``X-Nervosum-Arm`` with a challenger served beside the model);
- the HTTP metrics: requests in flight, and each answer's route, method, status and
  latency; its error type when it failed;
- the prediction log: a prediction route's exchange, answered or failed, goes to the state
  of the model that answered it.

Routes without path parameters (``POST /predict``, the health routes, ``/metrics``...)
whose handler is :func:`~nervosum.serving.guard.guarded` are matched here by their exact
path and the handler is called directly: no exception escapes such a handler, so
Starlette's router, exception and error middleware, ~40 µs a request (more than a
compiled model takes to answer it, docs/performance.md), have no work to do for them.
Anything else (path parameters, a method a route does not take, unknown paths, static
files) goes through Starlette as before. (A route's own ``middleware=`` would be skipped:
nervosum's routes have none.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nervosum.observe.metrics import RequestMetrics
from nervosum.predlog.events import Exchange
from nervosum.serving.auth.denial import denial_for, denial_response
from nervosum.serving.auth.gate import Gate
from nervosum.serving.exchange import ALONE, ARM_HEADER, CURRENT, HEADER, request_id
from nervosum.serving.guard import is_guarded
from nervosum.serving.state import ServingState

# Who answered a request: the metrics to count it in, and the model state (if any)
# whose prediction log gets it.
Attribution = Callable[[Scope], tuple[RequestMetrics, ServingState | None]]


def route_label(scope: Scope) -> str:
    """A bounded label for metrics: the matched route's template, or ``other``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


def prediction_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    """The headers of a prediction's answer: its request id, and the arm that answered
    when a challenger is served beside the model (docs/variants.md)."""
    headers = [(HEADER, exchange.request_id.encode("latin-1"))]
    origin = exchange.origin
    if origin is not None and origin.arm is not None:
        headers.append((ARM_HEADER, origin.arm.encode("latin-1")))
    return headers


def exact_routes(routes: Sequence[BaseRoute]) -> dict[str, list[Route]]:
    """The guarded routes without path parameters by their path, in the router's order
    (the first route taking the method answers, as in Starlette)."""
    table: dict[str, list[Route]] = {}
    for route in routes:
        if isinstance(route, Route) and not route.param_convertors and is_guarded(route.endpoint):
            table.setdefault(route.path, []).append(route)
    return table


class FrontedApp(Starlette):
    """A Starlette app with a :class:`FrontDoor` in front of its own middleware stack
    (error and exception middleware, router). Both are built on the first request, as
    Starlette's stack always was, so middleware may still be added until then; an app
    given middleware (an embedder's own) sends every route through it. The front door
    still comes first: with authentication on, a request the gate refuses (a browser's
    credential-less CORS pre-flight among them) never reaches that middleware."""

    front: Callable[[ASGIApp], FrontDoor] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Started when the HTTP server's drain starts (SIGTERM), so what else the app
        # serves (gRPC) drains alongside HTTP rather than after it.
        self.drains: list[Callable[[], None]] = []

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.front is None else self.front(stack)


def install_front_door(
    app: FrontedApp,
    *,
    gate: Gate,
    metrics: RequestMetrics,
    target: Attribution,
    prediction_routes: frozenset[str],
) -> None:
    """Put a front door with these settings in front of ``app``'s middleware stack."""

    def front(stack: ASGIApp) -> FrontDoor:
        # Middleware of the app's own, or Starlette's body limit, must see every request.
        direct = not app.user_middleware and app.max_body_size is None
        return FrontDoor(
            stack,
            routes=app.routes if direct else [],
            gate=gate,
            metrics=metrics,
            target=target,
            prediction_routes=prediction_routes,
        )

    app.front = front


class FrontDoor:
    """Gate, request id, metrics and prediction log around ``app`` (Starlette's stack),
    with the parameterless ``routes`` called directly (see the module).

    ``target`` says which model answered a request (a single-model app: always its one
    model; a multi-model server: the one its handler named in the scope).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        gate: Gate,
        metrics: RequestMetrics,
        target: Attribution,
        prediction_routes: frozenset[str],
    ) -> None:
        self.app = app
        self.exact = exact_routes(routes)
        self.gate = gate
        self.metrics = metrics
        self.target = target
        self.prediction_routes = prediction_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = (
            Exchange(request_id(scope), "", alone=scope.get(ALONE, False), headers=scope["headers"])
            if scope["method"] == "POST"
            else None
        )
        token = CURRENT.set(exchange)
        self.metrics.requests_in_flight += 1
        status = 500
        try:
            status = await self._answer(scope, receive, send, exchange)
        finally:
            CURRENT.reset(token)
            self.metrics.requests_in_flight -= 1
            self._record(scope, status, time.perf_counter() - started, exchange)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, exchange: Exchange | None
    ) -> int:
        """Answer the request; returns the status sent."""
        denial = denial_for(self.gate, scope)
        if denial is not None:
            scope["nervosum.error"] = denial.error.code
            response = denial_response(denial)
            await response(scope, receive, send)
            return response.status_code
        route = self._route(scope)
        if route is None:
            return await self._through_router(scope, receive, send, exchange)
        scope["route"] = route
        if exchange is not None:
            exchange.route = route.path  # known now: a shadow copy's record names it
        answer: Response = await route.endpoint(Request(scope, receive))
        if exchange is not None and route.path in self.prediction_routes:
            answer.raw_headers.extend(prediction_headers(exchange))
        await answer(scope, receive, send)
        return answer.status_code

    def _route(self, scope: Scope) -> Route | None:
        """The parameterless route answering this path and method, if any."""
        method = scope["method"]
        for route in self.exact.get(scope["path"], ()):
            if route.methods is None or method in route.methods:
                return route
        return None

    async def _through_router(
        self, scope: Scope, receive: Receive, send: Send, exchange: Exchange | None
    ) -> int:
        """Starlette's stack answers; the status is read off the response as it starts."""
        status = 500
        predictions = self.prediction_routes

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if exchange is not None and route_label(scope) in predictions:
                    exchange.route = route_label(scope)
                    message.setdefault("headers", []).extend(prediction_headers(exchange))
            await send(message)

        await self.app(scope, receive, send_and_record)
        return status

    def _record(self, scope: Scope, status: int, seconds: float, exchange: Exchange | None) -> None:
        """Count the answer; hand a prediction's exchange to the model's state."""
        route = route_label(scope)
        metrics, state = self.target(scope)
        metrics.observe(route, scope["method"], status, seconds)
        error = scope.get("nervosum.error")
        if error is not None:
            metrics.error(route, error)
        if exchange is not None and state is not None and route in self.prediction_routes:
            exchange.route = route
            state.log_exchange(exchange, scope.get("nervosum.failure"), scope)
