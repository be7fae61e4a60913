"""Every handler runs behind :func:`guarded`: no exception escapes, every error is logged
once and rendered in the shape the route's protocol specifies (nervosum's own JSON error,
Open Inference Protocol, MLflow, KServe v1), and counted in the metrics."""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from nervosum.errors import NervosumError, new_error_id
from nervosum.serving.responses import JsonResponse, error_response
from nervosum.serving.state import ServingState

log = logging.getLogger("nervosum.serving")

Handler = Callable[[Request], Awaitable[Response]]
Renderer = Callable[[NervosumError, bool], JsonResponse]


def state_of(request: Request) -> ServingState:
    state: ServingState = request.app.state.nervosum
    return state


def native_error(error: NervosumError, expose_details: bool) -> JsonResponse:
    return error_response(error, expose_details=expose_details)


# Every guarded handler: the front door calls these directly (serving/front.py).
_GUARDED: weakref.WeakSet[Handler] = weakref.WeakSet()


def is_guarded(endpoint: object) -> bool:
    """Whether ``endpoint`` is a handler :func:`guarded` made, which no exception escapes."""
    try:
        return endpoint in _GUARDED
    except TypeError:  # an endpoint that cannot be hashed (an embedder's ASGI dataclass)
        return False


def guarded(handler: Handler, render: Renderer = native_error) -> Handler:
    """Wrap ``handler`` so that every exception becomes a ``render``-ed error response."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        expose_details: bool = request.app.state.expose_details
        try:
            return await handler(request)
        except ClientDisconnect:
            # The client went away mid-body: nobody reads the answer, and it is no server error.
            request.scope["nervosum.error"] = "client_closed"
            return Response(status_code=499)
        except NervosumError as exc:
            request.scope["nervosum.error"] = exc.code
            request.scope["nervosum.failure"] = exc
            if exc.details and not expose_details:
                # Hidden from the client (errors.expose_details: false), kept for operators.
                log.warning("%s on %s: %s %s", exc.code, request.url.path, exc.message, exc.details)
            return render(exc, expose_details)
        except Exception:
            error_id = new_error_id()
            log.exception("unexpected error [error_id=%s] on %s", error_id, request.url.path)
            failure = NervosumError(
                f"internal server error (error id {error_id})", error_id=error_id
            )
            request.scope["nervosum.error"] = failure.code
            request.scope["nervosum.failure"] = failure
            return render(failure, False)

    _GUARDED.add(wrapper)
    return wrapper


def guarded_as(render: Renderer) -> Callable[[Handler], Handler]:
    """Decorator form of :func:`guarded` with a protocol's error renderer."""
    return functools.partial(guarded, render=render)
