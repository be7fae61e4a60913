"""The gate's answer for an HTTP request, read from its scope; asked by the front door
of every nervosum HTTP server (:mod:`nervosum.serving.front`).

A denied request never reaches a handler or the prediction log.
"""

from __future__ import annotations

from starlette.types import Scope

from nervosum.serving.auth.gate import Denial, Gate
from nervosum.serving.responses import JsonResponse, error_response

_AUTHORIZATION = b"authorization"
_API_KEY = b"x-api-key"


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def denial_response(denial: Denial) -> JsonResponse:
    return error_response(denial.error, headers=denial.headers)


def denial_for(gate: Gate, scope: Scope) -> Denial | None:
    """What ``gate`` says of an HTTP request: None lets it in. The credentials are read
    from the headers only when the route needs them."""

    return gate.check(scope["method"], scope["path"], _client(scope), lambda: _credentials(scope))


def who(gate: Gate, scope: Scope) -> str:
    """Who sent an HTTP request the gate let in (``anonymous`` without authentication)."""
    return gate.who(lambda: _credentials(scope))


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """The Authorization and X-API-Key headers."""
    authorization = api_key = None
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            authorization = value.decode("latin-1")
        elif name == _API_KEY:
            api_key = value.decode("latin-1")
    return authorization, api_key
