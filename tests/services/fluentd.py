"""A Fluentd forward-protocol receiver: what fluent-logger sends, decoded.

It accepts the three forward modes (Message, Forward, PackedForward, gzip too), decodes
the EventTime extension, acknowledges chunks when asked, and runs its own event loop on
a thread so tests stay synchronous. ``stop()`` closes the listener and every connection:
the sink is dead from then on.
"""

from __future__ import annotations

import asyncio
import gzip
import struct
import threading
import time
from typing import Any

import msgpack


def _ext(code: int, data: bytes) -> Any:
    if code == 0:  # EventTime: seconds and nanoseconds, big-endian uint32 each
        seconds, nanos = struct.unpack(">II", data)
        return seconds + nanos / 1e9
    return msgpack.ExtType(code, data)


class FluentdReceiver:
    def __init__(self) -> None:
        self.events: list[tuple[str, float, dict[str, Any]]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> FluentdReceiver:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        unpacker = msgpack.Unpacker(ext_hook=_ext, raw=False)
        try:
            while data := await reader.read(65536):
                unpacker.feed(data)
                for message in unpacker:
                    chunk = self._take(message)
                    if chunk is not None:
                        writer.write(msgpack.packb({"ack": chunk}))
                        await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _take(self, message: list[Any]) -> str | None:
        tag, payload = message[0], message[1]
        options: dict[str, Any] = {}
        if isinstance(payload, list):  # Forward: [tag, [[time, record], ...], options?]
            entries = payload
            options = message[2] if len(message) > 2 else {}
        elif isinstance(payload, bytes):  # PackedForward: [tag, packed entries, options?]
            options = message[2] if len(message) > 2 else {}
            if options.get("compressed") == "gzip":
                payload = gzip.decompress(payload)
            unpacker = msgpack.Unpacker(ext_hook=_ext, raw=False)
            unpacker.feed(payload)
            entries = list(unpacker)
        else:  # Message: [tag, time, record, options?]
            entries = [[payload, message[2]]]
            options = message[3] if len(message) > 3 else {}
        for moment, record in entries:
            self.events.append((tag, float(moment), record))
        chunk = options.get("chunk") if isinstance(options, dict) else None
        return str(chunk) if chunk else None

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, float, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.events)

    def stop(self) -> None:
        """Close the listener and every connection (again: a no-op)."""
        if self._loop.is_closed():
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
