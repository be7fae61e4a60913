"""JSON responses for the hot path (orjson) and the one error shape every route uses.

Every error a client sees is ``{"error": {"type", "message", "details"}}`` (plus
``error_id`` for model failures), whatever raised it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from nervosum.errors import NervosumError
from nervosum.jsonio import dumps

JSON = "application/json"


class JsonResponse(Response):
    media_type = JSON

    def render(self, content: Any) -> bytes:
        return dumps(content)


def error_response(
    error: NervosumError,
    *,
    expose_details: bool = True,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    headers = dict(headers or {})
    if error.http_status == 503:
        headers["Retry-After"] = "1"
    body = {"error": error.to_record(expose_details=expose_details)}
    return JsonResponse(body, status_code=error.http_status, headers=headers)
