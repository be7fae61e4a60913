"""Read a request body safely: content type checked, size bounded before it is buffered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request

from nervosum.errors import (
    InputValidationError,
    PayloadTooLargeError,
    RequestError,
    UnsupportedMediaTypeError,
)

_JSON_TYPES = ("application/json", "text/json", "text/plain", "")
_FORM = "application/x-www-form-urlencoded"
# [compat] nachlass (seed 002) read predictions from the form field json_args=<JSON>.
JSON_ARGS = "json_args"
# The column a json_args string becomes when the project declares no input_schema.
TEXT_COLUMN = "text"


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


def _form_not_supported(
    hint: str = "send a JSON body with content-type: application/json",
) -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError("form-encoded bodies are not supported", hint=hint)


def is_form_fields(media: str, body: bytes) -> bool:
    """Whether a body read by :func:`read_body` is form fields rather than JSON."""
    return media == _FORM and not _looks_like_json(body)


async def read_json_body(request: Request, limit: int, *, also: tuple[str, ...] = ()) -> bytes:
    """The raw bytes of a JSON ``request`` (or one of the ``also`` media types);
    413, 415 or 400 when they cannot be accepted."""
    media, body = await read_body(request, limit, also=also)
    # curl -d sends JSON as form-encoded unless told otherwise; accept it when it is JSON.
    if is_form_fields(media, body):
        raise _form_not_supported()
    return body


async def read_body(
    request: Request, limit: int, *, also: tuple[str, ...] = ()
) -> tuple[str, bytes]:
    """The media type and raw bytes of a JSON or form-encoded ``request`` (or one of the
    ``also`` media types); 413, 415 or 400 when they cannot be accepted."""
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
    return media, body


def json_args_rows(body: bytes, fields: Sequence[str]) -> list[Any]:
    """nachlass's form ``json_args=<JSON>`` as rows to validate: a list of records as it
    is, a list of strings as one-field records (the one input field, or ``text`` when
    none is declared). Client data is only ever parsed as JSON: the seed's ``args=``
    (a pickle) is refused."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=16, errors="strict")
    except ValueError as exc:  # UnicodeDecodeError is one
        raise RequestError(f"form body cannot be read: {exc}") from None
    if "args" in form and JSON_ARGS not in form:
        raise RequestError(
            "args= (a pickled request) is refused: unpickling client data runs the client's code",
            hint=f"send the same data as JSON: {JSON_ARGS}=<JSON list>",
        )
    if JSON_ARGS not in form:
        raise _form_not_supported(f"send JSON, or the form field {JSON_ARGS}=<JSON list>")
    try:
        value = orjson.loads(form[JSON_ARGS][-1])
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"{JSON_ARGS} is not valid JSON: {exc}") from None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        if len(fields) > 1:
            raise InputValidationError(
                f"{JSON_ARGS} strings need a model with one input field; this one takes"
                f" records of {', '.join(fields)}",
                details=[{"loc": [JSON_ARGS], "msg": "expected records", "type": "list_type"}],
            )
        column = fields[0] if fields else TEXT_COLUMN
        return [{column: item} for item in value]
    raise InputValidationError(
        f"{JSON_ARGS} must be a JSON list of strings or a list of records",
        details=[{"loc": [JSON_ARGS], "msg": "expected a list", "type": "list_type"}],
    )
