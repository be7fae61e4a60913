"""The stream worker's small HTTP side port: ``/health/live``, ``/health/ready`` and
``/metrics``, for Kubernetes probes and Prometheus.

Three fixed GET routes do not need a web framework: a plain asyncio server answers them
(HTTP/1.0, one request per connection), so it never competes with the worker for
signal handling the way an embedded uvicorn would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from nervosum.observe.metrics import CONTENT_TYPE

Probe = Callable[[], bool]
Exposition = Callable[[], bytes]


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class SidePort:
    """Serves the probes and metrics on ``host:port`` while the worker runs."""

    def __init__(self, host: str, port: int, ready: Probe, metrics: Exposition) -> None:
        self.host = host
        self.port = port
        self.ready = ready
        self.metrics = metrics
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, self.host, self.port)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            writer.write(self._route(method, path))
            await writer.drain()
        writer.close()

    def _route(self, method: str, path: str) -> bytes:
        json = "application/json"
        if method not in ("GET", "POST"):
            return _response("405 Method Not Allowed", json, b'{"error": "use GET"}')
        if path == "/health/live":
            return _response("200 OK", json, b'{"status": "alive"}')
        if path == "/health/ready":
            if self.ready():
                return _response("200 OK", json, b'{"status": "ready"}')
            return _response("503 Service Unavailable", json, b'{"status": "not ready"}')
        if path == "/metrics":
            return _response("200 OK", CONTENT_TYPE, self.metrics())
        return _response("404 Not Found", json, b'{"error": "no such route"}')

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
