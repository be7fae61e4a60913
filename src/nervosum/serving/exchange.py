"""Each prediction request's id and answer, from the moment it arrives to the log.

The front door (serving/front.py) opens an :class:`~nervosum.predlog.events.Exchange` for every POST
and makes it the current one (a context variable: the handler runs in the same task);
``ServingState.infer`` records the inputs and outputs on it. When the response starts,
prediction routes get the ``X-Request-ID`` header (the client's own, when it sent a
usable one); when it ends, the exchange becomes prediction log records.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar

from starlette.types import Scope

from nervosum.predlog.events import Exchange

# The routes whose answers are predictions (the templates Starlette matched).
PREDICTION_ROUTES = frozenset(
    {
        "/predict",
        "/invocations",
        "/v1/models/{name}:predict",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }
)
HEADER = b"x-request-id"
ARM_HEADER = b"x-nervosum-arm"  # champion or challenger (docs/variants.md)
# Scope key: true when the request's task is the only one its process runs (limits.py).
ALONE = "nervosum.alone"
_MAX_ID = 128

CURRENT: ContextVar[Exchange | None] = ContextVar("nervosum_exchange", default=None)


def request_id(scope: Scope) -> str:
    """The client's X-Request-ID when short and printable, else a new one."""
    for name, value in scope["headers"]:
        if name == HEADER:
            return usable_id(bytes(value).decode("latin-1").strip())
    return usable_id("")


def usable_id(given: str) -> str:
    """``given`` as a request id when short and printable (a client's own: the HTTP
    header, a gRPC request's ``id``), else a new one."""
    if 0 < len(given) <= _MAX_ID and given.isprintable():
        return given
    return secrets.token_hex(16)  # 128 random bits, as uuid4's hex at a third of the cost


def current() -> Exchange | None:
    return CURRENT.get()
