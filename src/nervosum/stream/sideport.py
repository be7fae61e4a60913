"""The stream worker's small HTTP side port: ``/health/live``, ``/health/ready`` and
``/metrics``, for Kubernetes probes and Prometheus.

Three fixed GET routes do not need a web framework: a plain asyncio server answers them
(HTTP/1.0, one request per connection), so it never competes with the worker for
signal handling the way an embedded uvicorn would. It asks the same authentication
gate as the HTTP servers (``/metrics`` per ``auth.metrics``, health always open) and
speaks TLS with the same ``server.ssl_*`` settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from http import HTTPStatus

from nervosum.errors import MethodNotAllowedError, NervosumError, NotFoundError
from nervosum.jsonio import dumps
from nervosum.observe.metrics import CONTENT_TYPE
from nervosum.serving.auth import Denial, Gate

Probe = Callable[[], bool]
Exposition = Callable[[], bytes]
JSON = "application/json"
MAX_HEAD = 16 * 1024  # a probe's or a scraper's request head is a few hundred bytes


def _response(
    status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"HTTP/1.0 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _error(error: NervosumError) -> bytes:
    return _response(error.http_status, JSON, dumps({"error": error.to_record()}))


def _denied(denial: Denial) -> bytes:
    error = denial.error
    return _response(error.http_status, JSON, dumps({"error": error.to_record()}), denial.headers)


def _credentials(head: str) -> tuple[str | None, str | None]:
    """The Authorization and X-API-Key headers of a request head."""
    found: dict[str, str] = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return found.get("authorization"), found.get("x-api-key")


class SidePort:
    """Serves the probes and metrics on ``host:port`` while the worker runs."""

    def __init__(
        self,
        host: str,
        port: int,
        ready: Probe,
        metrics: Exposition,
        *,
        gate: Gate | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ready = ready
        self.metrics = metrics
        self.gate = gate
        self.tls = tls
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._answer, self.host, self.port, ssl=self.tls, limit=MAX_HEAD
        )

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(
            ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError
        ):
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            head = raw.decode("latin-1")
            method, _, rest = head.partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            peer = writer.get_extra_info("peername")
            client = str(peer[0]) if peer else "unknown"
            writer.write(self._route(method, path, client, head))
            await writer.drain()
        writer.close()

    def _route(self, method: str, path: str, client: str, head: str) -> bytes:
        if method not in ("GET", "HEAD", "POST"):
            return _error(MethodNotAllowedError(f"{method} is not allowed", hint="use GET"))
        if self.gate is not None:
            denial = self.gate.check(method, path, client, lambda: _credentials(head))
            if denial is not None:
                return _denied(denial)
        if path == "/health/live":
            return _response(200, JSON, b'{"status": "alive"}')
        if path == "/health/ready":
            if self.ready():
                return _response(200, JSON, b'{"status": "ready"}')
            return _response(503, JSON, b'{"status": "not ready"}')
        if path == "/metrics":
            return _response(200, CONTENT_TYPE, self.metrics())
        return _error(
            NotFoundError(f"no route {path}", hint="/health/live, /health/ready, /metrics")
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
