"""The gate as pure ASGI middleware, in front of the router of every HTTP server.

It sits inside the metrics middleware, so 401, 403 and 429 are counted like any other
answer (under the route label ``other``: the router has not run), and before the
router, so a denied request never reaches a handler or the prediction log.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from nervosum.serving.auth.gate import Denial, Gate
from nervosum.serving.responses import JsonResponse, error_response

_AUTHORIZATION = b"authorization"
_API_KEY = b"x-api-key"


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def denial_response(denial: Denial) -> JsonResponse:
    return error_response(denial.error, headers=denial.headers)


class AuthMiddleware:
    """Asks ``gate`` about every HTTP request; answers its denials itself."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        def credentials() -> tuple[str | None, str | None]:
            authorization = api_key = None
            for name, value in scope["headers"]:
                if name == _AUTHORIZATION:
                    authorization = value.decode("latin-1")
                elif name == _API_KEY:
                    api_key = value.decode("latin-1")
            return authorization, api_key

        denial = self.gate.check(scope["method"], scope["path"], _client(scope), credentials)
        if denial is None:
            await self.app(scope, receive, send)
            return
        scope["nervosum.error"] = denial.error.code
        await denial_response(denial)(scope, receive, send)
