"""What a client may send, and how slowly, before any route sees the request.

uvicorn buffers a request head for as long as the client keeps sending it: one 400 MB
header took /health/live to 21-26 s and the server up by 420 MB, and a client that
trickles its head or body holds the connection as long as it likes (issue 20, item 2).
uvicorn's h11 protocol bounds the head (``h11_max_incomplete_event_size``) but answers
400 and has no read timeouts either; its httptools protocol has neither. So every server
runs :func:`limited_protocol`: uvicorn's httptools protocol, which

- counts the bytes of each request head as they arrive, before httptools buffers them,
  and answers 431 once they pass ``server.max_header_size`` (a head is never buffered
  beyond twice the limit, even pipelined behind another request);
- answers 414 once the request target passes ``server.max_url_size``;
- answers 408 when a head takes longer than ``server.header_timeout`` from its first byte
  (a new connection that sends nothing is closed after it), or a body longer than
  ``server.body_timeout`` from the end of its head;
- answers 503 past ``server.max_connections`` open connections (or requests running).

Each refusal is a short body in the one JSON error shape with ``Connection: close``.
The limits hold per request: on a keep-alive or pipelined connection the count and the
timer start again with each request. A timer measures the client only: while the server
itself has stopped reading (flow control, pipelined requests waiting for their turn) it
starts over instead of firing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import httptools
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from nervosum.config.spec import ServerSpec
from nervosum.errors import (
    HeaderTooLargeError,
    OverloadedError,
    PayloadTooLargeError,
    ReadTimeoutError,
    RequestError,
    UrlTooLongError,
)
from nervosum.jsonio import dumps
from nervosum.serving.auth.policy import is_probe
from nervosum.serving.exchange import ALONE
from nervosum.serving.responses import error_response

log = logging.getLogger("nervosum.serving")


class _Refusal(Exception):
    """Raised inside a parser callback to stop parsing and answer ``error``."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


def limited_protocol(settings: ServerSpec) -> type[asyncio.Protocol]:
    """uvicorn's ``http=`` protocol class enforcing ``settings``' limits."""

    class Protocol(LimitedProtocol):
        limits = settings

    return Protocol


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of :attr:`limits` (see the module)."""

    limits: ServerSpec

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.app = self._capped(self.app)
        self.limit_concurrency = None  # the cap is :meth:`_capped`'s, answered in JSON
        self._head_bytes = 0
        self._url_bytes = 0
        self._after_head = 0  # bytes since the head: body, chunk framing, trailers
        self._trailer_bytes = 0
        # After a chunk header until body data comes: the last chunk's header is followed
        # by trailers, which httptools reports only once a line ends.
        self._maybe_trailer = False
        self._reading_head = True  # the next bytes belong to a request head
        self._timer: asyncio.TimerHandle | None = None
        self._timing: Callable[[], None] | None = None  # what the timer fires
        self._refused = False
        self._pending: bytes | None = None  # a refusal waiting for earlier answers

    # -- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what a refused client still sends is dropped
        self._unset_keepalive_if_required()
        view = memoryview(data)
        while view and not self._refused:
            if self._reading_head:
                room = self.limits.max_header_size - self._head_bytes
                if room <= 0:
                    self._refuse(self._head_too_large())
                    return
                piece, view = view[:room], view[room:]
                self._head_bytes += len(piece)
            else:
                # The body is bounded where it is read; this bounds what the parser
                # buffers besides it (chunk framing, trailers), whatever the route.
                self._after_head += len(view)
                bound = 2 * self.limits.max_body_size + self.limits.max_header_size
                if self._after_head > bound:
                    self._refuse(self._body_too_large())
                    return
                piece, view = view, view[len(view) :]
            before = self._maybe_trailer
            self._feed(piece)
            if before and self._maybe_trailer and not self._reading_head:
                self._count_trailer(len(piece))
        if not self._refused:
            self._time_the_rest()

    def _time_the_rest(self) -> None:
        """Time what the client still owes once its bytes so far are parsed: the rest of a
        head (from its first byte) or of a body (from the end of its head). A request that
        came whole, the usual case, leaves no timer to arm and cancel."""
        if self._reading_head:
            if self._head_bytes and self._timing != self._head_too_slow:
                self._arm(self.limits.header_timeout, self._head_too_slow)
        elif self._timing != self._body_too_slow:
            self._arm(self.limits.body_timeout, self._body_too_slow)

    def _feed(self, piece: memoryview) -> None:
        """Parse ``piece``; a limit a callback found, or bytes that are not HTTP (uvicorn's
        plain-text 400), are answered in the one JSON error shape."""
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserUpgrade:
            log.warning("a request asked to upgrade the connection; answered as HTTP/1.1")
        except httptools.HttpParserError as exc:
            refusal = exc.__context__
            if isinstance(refusal, _Refusal):
                self._refuse(refusal.error)
            else:
                self._refuse(RequestError(f"the request is not valid HTTP/1.1: {exc}"))

    # -- parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_size:
            raise _Refusal(
                UrlTooLongError(
                    f"the request URL is longer than {self.limits.max_url_size} bytes",
                    hint="send long inputs in the body; the limit is server.max_url_size",
                ),
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._reading_head:  # a trailer of a chunked body: the head's limit holds
            self._trailer_bytes += len(name) + len(value) + 4
            if self._trailer_bytes > self.limits.max_header_size:
                raise _Refusal(self._head_too_large())
        super().on_header(name, value)

    def on_chunk_header(self) -> None:
        self._maybe_trailer = True

    def on_body(self, body: bytes) -> None:
        self._maybe_trailer = False
        super().on_body(body)

    def _count_trailer(self, size: int) -> None:
        """Trailer bytes still arriving (a line httptools has not ended yet)."""
        self._trailer_bytes += size
        if self._trailer_bytes > self.limits.max_header_size:
            self._refuse(self._head_too_large())

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        self._head_bytes = 0
        self._after_head = 0
        self._trailer_bytes = 0
        self._maybe_trailer = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._pending is not None and not self.pipeline and self.cycle.response_complete:
            self._close_with(self._pending)

    # -- limits

    def _capped(self, app: ASGI3Application) -> ASGI3Application:
        """``app``, answering 503 (health probes excepted) while more than
        ``max_connections`` connections are open or requests are running in this process."""
        cap = self.limits.max_connections

        async def capped(
            scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
        ) -> None:
            tasks = len(self.tasks)  # every request task of this process, this one included
            cast("dict[str, Any]", scope)[ALONE] = tasks == 1  # an ASGI extension key
            # Probes pass: a flood of idle sockets must not get the pod restarted.
            under = len(self.connections) <= cap and tasks <= cap
            if under or is_probe(str(scope.get("method")), str(scope.get("path"))):
                await app(scope, receive, send)
                return
            too_many = error_response(
                OverloadedError(
                    f"the server has more than {cap} connections open; retry in a moment",
                    hint="the limit is server.max_connections",
                ),
                headers={"Connection": "close"},
            )
            await too_many(scope, receive, send)  # type: ignore[arg-type]

        return capped

    def _head_too_large(self) -> RequestError:
        return HeaderTooLargeError(
            f"the request line and headers are larger than {self.limits.max_header_size} bytes",
            hint="send fewer or shorter headers; the limit is server.max_header_size",
        )

    def _body_too_large(self) -> RequestError:
        return PayloadTooLargeError(
            "the request body, its chunk framing and trailers are larger than twice"
            f" server.max_body_size ({self.limits.max_body_size} bytes)",
            hint="send a smaller body in fewer, larger chunks",
        )

    def _head_too_slow(self) -> None:
        if self._head_bytes == 0:  # an idle connection that never started a request
            self.transport.close()
            return
        timeout = self.limits.header_timeout
        self._refuse(
            ReadTimeoutError(
                f"the request headers did not arrive within {timeout:g} s",
                hint="the limit is server.header_timeout",
            ),
        )

    def _body_too_slow(self) -> None:
        timeout = self.limits.body_timeout
        self._refuse(
            ReadTimeoutError(
                f"the request body did not arrive within {timeout:g} s",
                hint="the limit is server.body_timeout",
            ),
        )

    # -- timers

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self._disarm()

        def fire() -> None:
            self._timer = self._timing = None
            if self.flow.read_paused:  # the server stopped reading: not the client's delay
                self._arm(seconds, expired)
            else:
                expired()

        self._timer = self.loop.call_later(seconds, fire)
        self._timing = expired

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timing = None

    # -- refusing

    def _refuse(self, error: RequestError) -> None:
        """Answer ``error`` (with its status) and close, after any answer still due."""
        self._refused = True
        self._disarm()
        log.info("refused a request with %d: %s", error.http_status, error.message)
        answer = self._render(error)
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._close_with(answer)
        elif self._reading_head:  # an earlier pipelined request is still being answered
            self._pending = answer
        else:
            # The running request's own body broke the limit: its handler sees the
            # client gone, and whatever it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
            else:
                self._close_with(answer)

    def _render(self, error: RequestError) -> bytes:
        body = dumps({"error": error.to_record()})
        lines = [STATUS_LINE[error.http_status]]
        for name, value in self.server_state.default_headers:
            lines.append(name + b": " + value + b"\r\n")
        lines.append(b"content-type: application/json\r\n")
        lines.append(b"content-length: %d\r\n" % len(body))
        lines.append(b"connection: close\r\n\r\n")
        lines.append(body)
        return b"".join(lines)

    def _close_with(self, answer: bytes) -> None:
        self._pending = None
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()
