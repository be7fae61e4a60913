"""Request bodies sent with ``Content-Encoding: gzip`` or ``deflate``, inflated as they
arrive and bounded by the inflated size.

A few kilobytes of gzip can inflate to gigabytes, so the limit (``server.max_body_size``)
is counted while inflating: zlib is never asked for more than one byte past what is
left, and the body is refused (413) the moment it would exceed the limit.
"""

from __future__ import annotations

import zlib

from nervosum.errors import PayloadTooLargeError, RequestError, UnsupportedMediaTypeError

# zlib's window bits per content coding: gzip's header and trailer, or zlib's (RFC 9110's
# "deflate").
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPTED = ", ".join(_WBITS)


def too_large(limit: int, what: str = "request body") -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"{what} is larger than the {limit} byte limit",
        hint="send fewer records per request or raise server.max_body_size",
    )


class Inflater:
    """Inflates one body chunk by chunk; ``feed`` each chunk, then ``finish``."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self._stream = zlib.decompressobj(_WBITS[coding])

    def feed(self, chunk: bytes) -> bytes:
        """The inflated bytes of ``chunk``; 413 past the limit, 400 for corrupt data."""
        if self._stream.eof:
            if chunk:
                raise self._trailing()
            return b""
        pieces: list[bytes] = []
        data = chunk
        while data and not self._stream.eof:
            # Never more than one byte past the limit: that byte says "too large".
            try:
                piece = self._stream.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                raise RequestError(f"the {self.coding} body cannot be inflated: {exc}") from None
            self.size += len(piece)
            if self.size > self.limit:
                raise too_large(self.limit, "inflated request body")
            pieces.append(piece)
            data = self._stream.unconsumed_tail
        if self._stream.unused_data:
            raise self._trailing()
        return b"".join(pieces)

    def _trailing(self) -> RequestError:
        return RequestError(f"the {self.coding} body has data after its end")

    def finish(self) -> None:
        """400 when the body ended before the compressed stream did."""
        if not self._stream.eof:
            raise RequestError(f"the {self.coding} body is truncated")


def inflater(content_encoding: str, limit: int) -> Inflater | None:
    """The inflater for a ``Content-Encoding`` header value (``None`` for identity);
    415 for a coding other than gzip or deflate, or for several stacked codings."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _WBITS:
        raise UnsupportedMediaTypeError(
            f"content encoding {content_encoding.strip()!r} is not supported",
            hint=f"send the body as is, or compressed once with one of: {ACCEPTED}",
        )
    return Inflater(codings[0], limit)
