"""Read a request body safely: content type checked, size bounded before it is buffered."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from nervosum.errors import PayloadTooLargeError, RequestError, UnsupportedMediaTypeError

_JSON_TYPES = ("application/json", "text/json", "text/plain", "")
_FORM = "application/x-www-form-urlencoded"


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body is larger than the {limit} byte limit",
        hint="send fewer records per request or raise server.max_body_size",
    )


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip()[:1] in (b"{", b"[")


def media_type(request: Request) -> str:
    return _media(request.headers.get("content-type", ""))


def _media(content_type: str) -> str:
    return content_type.split(";", maxsplit=1)[0].strip().lower()


def _content_headers(request: Request) -> tuple[str, bytes | None]:
    """Content type and declared length, in one pass over the raw (lowercase) headers:
    every prediction reads both, and two lookups in Starlette's Headers cost more."""
    content_type: bytes | None = None
    length: bytes | None = None
    for name, value in request.scope["headers"]:
        if name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"content-length" and length is None:
            length = value
    media = _media(content_type.decode("latin-1")) if content_type is not None else ""
    return media, length


def load_json(body: bytes) -> Any:
    """Parse ``body``; a syntax error is a 400 that says where."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"body is not valid JSON: {exc}") from None


async def read_json_body(request: Request, limit: int, *, also: tuple[str, ...] = ()) -> bytes:
    """The raw bytes of a JSON ``request`` (or one of the ``also`` media types);
    413, 415 or 400 when they cannot be accepted."""
    media, declared = _content_headers(request)
    if (
        media not in _JSON_TYPES
        and media not in also
        and not media.endswith("+json")
        and media != _FORM
    ):
        raise UnsupportedMediaTypeError(
            f"content type {media!r} is not supported",
            hint="send a JSON body with content-type: application/json",
        )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request.scope["nervosum.body"] = body  # what a failed request's log record shows
    if not body.strip():
        raise RequestError(
            "request body is empty", hint="send a JSON object or an array of objects"
        )
    # curl -d sends JSON as form-encoded unless told otherwise; accept it when it is JSON.
    if media == _FORM and not _looks_like_json(body):
        raise UnsupportedMediaTypeError(
            "form-encoded bodies are not supported",
            hint="send a JSON body with content-type: application/json",
        )
    return body
