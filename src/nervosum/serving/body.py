"""Read a request body safely: content type, charset and content encoding checked, size
bounded before it is buffered (and while it is inflated), large bodies parsed off the
event loop."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

from nervosum.errors import (
    InputValidationError,
    PayloadTooLargeError,
    RequestError,
    UnsupportedMediaTypeError,
)
from nervosum.jsonio import loads
from nervosum.serving.inflate import inflater, too_large

JSON = "application/json"
TEXT_PLAIN = "text/plain"
FORM = "application/x-www-form-urlencoded"
# [compat] nachlass (seed 002) read predictions from the form field json_args=<JSON>.
JSON_ARGS = "json_args"
# The column a json_args string becomes when the project declares no input_schema.
TEXT_COLUMN = "text"
# Bodies above this are parsed off the event loop so one big batch never stalls the rest.
PARSE_INLINE_LIMIT = 256 * 1024

T = TypeVar("T")


class _Head(NamedTuple):
    """What the headers say about the body."""

    media: str
    charset: str
    length: bytes | None
    encoding: str


def _head(request: Request) -> _Head:
    """The body's headers in one pass over the raw (lowercase) headers: every prediction
    reads them, and several lookups in Starlette's Headers cost more."""
    content_type = b""
    length: bytes | None = None
    encoding = b""
    for name, value in request.scope["headers"]:
        if name == b"content-type" and not content_type:
            content_type = value
        elif name == b"content-length" and length is None:
            length = value
        elif name == b"content-encoding" and not encoding:
            encoding = value
    media, _, params = content_type.decode("latin-1").partition(";")
    return _Head(media.strip().lower(), _charset(params), length, encoding.decode("latin-1"))


def _charset(params: str) -> str:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


def _is_json(media: str, *, text_plain: bool = False) -> bool:
    """A JSON content type: ``application/json``, ``application/*+json``, none (scripts),
    and ``text/plain`` only as the ``server.json_text_plain`` compatibility switch: a web
    page can post text/plain (and form fields) to any site without asking it first."""
    if media in ("", JSON):
        return True
    if media.startswith("application/") and media.endswith("+json"):
        return True
    return text_plain and media == TEXT_PLAIN


def _refused(media: str, also: tuple[str, ...], text_plain: bool) -> UnsupportedMediaTypeError:
    accepted = [JSON, "application/*+json", *also, *([TEXT_PLAIN] if text_plain else [])]
    if media == FORM:
        return _form_not_supported()
    return UnsupportedMediaTypeError(
        f"content type {media!r} is not supported; this route takes {', '.join(accepted)}"
        " or no content type",
        hint="send a JSON body with content-type: application/json",
    )


def _codec(charset: str) -> str | None:
    """The codec that turns a body in ``charset`` into UTF-8 (``None``: it already is)."""
    if charset in ("", "utf-8", "utf8"):
        return None
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        raise _unknown_charset(charset) from None
    return None if name == "utf-8" else name


def _unknown_charset(charset: str) -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError(
        f"charset {charset!r} is not supported", hint="send the body in UTF-8"
    )


def _transcode(body: bytes, codec: str) -> bytes:
    try:
        return body.decode(codec).encode("utf-8")
    except UnicodeError as exc:
        raise RequestError(f"body is not valid {codec}: {exc}") from None
    except LookupError:  # a codec that is no text encoding (base64, rot13, ...)
        raise _unknown_charset(codec) from None


def load_json(body: bytes, *, allow_inf_nan: bool = False) -> Any:
    """Parse ``body``; a syntax error (or nesting past 200 levels) is a 400 that says where.

    ``allow_inf_nan`` reads NaN and Infinity as floats, for records the schema validates
    next: it rejects them with the row and field named.
    """
    try:
        return loads(body, allow_inf_nan=allow_inf_nan)
    except ValueError as exc:
        raise RequestError(f"body is not valid JSON: {exc}") from None


async def parse_off_loop(body: bytes, parse: Callable[[bytes], T]) -> T:
    """``parse(body)``, on a worker thread when the body is large enough to stall the loop."""
    if len(body) > PARSE_INLINE_LIMIT:
        return await asyncio.to_thread(parse, body)
    return parse(body)


def check_row_count(count: int, limit: int | None) -> None:
    """413 when a request carries more rows than ``server.max_rows``."""
    if limit is not None and count > limit:
        raise PayloadTooLargeError(
            f"the request holds {count} rows; the limit is {limit} rows per request",
            hint="send fewer rows per request or raise server.max_rows",
        )


def _form_not_supported(
    hint: str = "curl -d sends form fields: add -H 'content-type: application/json'",
) -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError("form-encoded bodies are not supported", hint=hint)


async def read_json_body(
    request: Request, limit: int, *, also: tuple[str, ...] = (), text_plain: bool = False
) -> bytes:
    """The raw bytes of a JSON ``request`` (or one of the ``also`` media types), inflated
    and in UTF-8; 413, 415 or 400 when they cannot be accepted."""
    _, body = await read_body(request, limit, also=also, text_plain=text_plain)
    return body


async def read_body(
    request: Request, limit: int, *, also: tuple[str, ...] = (), text_plain: bool = False
) -> tuple[str, bytes]:
    """The media type and bytes of a JSON ``request`` (or one of the ``also`` media
    types), inflated and in UTF-8.

    415 for another content type, charset or content encoding; 413 past ``limit`` bytes,
    as sent or as inflated; 400 when it is empty or its encoding is broken.
    """
    head = _head(request)
    if not _is_json(head.media, text_plain=text_plain) and head.media not in also:
        raise _refused(head.media, also, text_plain)
    codec = _codec(head.charset)
    inflating = inflater(head.encoding, limit) if head.encoding else None
    if head.length is not None and head.length.isdigit() and int(head.length) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive  # its messages, not Request.stream(): one generator less
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(inflating.feed(chunk) if inflating else chunk)
    if inflating:
        inflating.finish()
    body = chunks[0] if len(chunks) == 1 and not inflating else b"".join(chunks)
    if codec:
        body = await parse_off_loop(body, lambda raw: _transcode(raw, codec))
    request.scope["nervosum.body"] = body  # what a failed request's log record shows
    if not body or body.isspace():
        raise RequestError(
            "request body is empty", hint="send a JSON object or an array of objects"
        )
    return head.media, body


def json_args_rows(body: bytes, fields: Sequence[str]) -> list[Any]:
    """nachlass's form ``json_args=<JSON>`` as rows to validate: a list of records as it
    is, a list of strings as one-field records (the one input field, or ``text`` when
    none is declared). Client data is only ever parsed as JSON: the seed's ``args=``
    (a pickle) is refused."""
    if body.lstrip()[:1] in (b"{", b"["):  # JSON sent as form fields (curl -d)
        raise _form_not_supported()
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
        value = loads(form[JSON_ARGS][-1].encode(), allow_inf_nan=True)
    except ValueError as exc:
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
