"""Records reach the sinks off the request path: a bounded buffer and a writer thread
per sink.

``emit`` only appends to each sink's buffer and never blocks or raises; a full buffer
drops the new records for that sink alone. Each writer takes up to ``batch_size``
records at a time and writes them; a sink that fails is closed, its batch is dropped,
and it is opened again after a backoff (1 s doubling to 30 s), so a dead database never
slows predictions or the other sinks. Drops are counted per sink (a callback feeds
``<prefix>_predlog_dropped_total{sink}``) and logged at most once a minute. ``close``
gives the writers ``flush_timeout`` seconds to empty their buffers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from nervosum.config.spec import LoggingSpec
from nervosum.config.types import Record
from nervosum.predlog.opener import open_sinks
from nervosum.predlog.sinks import Sink

log = logging.getLogger("nervosum.predlog")

Counted = Callable[[str, int], None]
LOG_INTERVAL = 60.0
FLUSH_SECONDS = 0.2  # longest a record waits in the buffer when traffic is light
MAX_BACKOFF = 30.0


def _ignore(sink: str, count: int) -> None:
    return None


class _Buffer:
    """A bounded FIFO of records shared by the event loop and one writer thread."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: deque[Record] = deque()
        self.ready = threading.Condition(threading.Lock())
        self.closed = False

    def offer(self, records: Sequence[Record], wake_at: int) -> int:
        """Append what fits; the number of records that did not. The writer is woken
        only once ``wake_at`` records wait (else it comes by on its own within
        ``FLUSH_SECONDS``): under load, one thread switch per batch, not per request."""
        with self.ready:
            room = max(0, self.capacity - len(self.records))
            self.records.extend(records[:room])
            if len(self.records) >= wake_at:
                self.ready.notify()
        return max(0, len(records) - room)

    def take(self, most: int, wait: float) -> list[Record]:
        with self.ready:
            if len(self.records) < most and not self.closed:
                self.ready.wait(wait)
            count = min(most, len(self.records))
            return [self.records.popleft() for _ in range(count)]

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()


class _Writer:
    """One sink's buffer and thread."""

    def __init__(self, sink: Sink, spec: LoggingSpec, on_drop: Counted, on_write: Counted) -> None:
        self.sink = sink
        self.batch_size = spec.batch_size
        self.buffer = _Buffer(spec.queue_size)
        self.on_drop = on_drop
        self.on_write = on_write
        self.retry_at = 0.0
        self.backoff = 1.0
        self.unreported = 0
        self.reported_at = 0.0
        self.last_error = ""
        self.thread = threading.Thread(target=self._run, name=f"predlog-{sink.name}", daemon=True)
        self.thread.start()

    def offer(self, records: Sequence[Record]) -> None:
        dropped = self.buffer.offer(records, self.batch_size)
        if dropped:
            self._dropped(dropped, "its buffer is full")

    def _run(self) -> None:
        while True:
            batch = self.buffer.take(self.batch_size, FLUSH_SECONDS)
            if not batch:
                if self.buffer.closed:
                    break
                self._report()
                continue
            self._write(batch)
        self.sink.close()
        self._report(force=True)

    def _write(self, batch: list[Record]) -> None:
        if time.monotonic() < self.retry_at:
            self._dropped(len(batch), self.last_error)
            return
        try:
            self.sink.write(batch)
        except Exception as exc:  # any sink failure: drop, count, reconnect later
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.retry_at = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
            self._dropped(len(batch), self.last_error)
            with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                self.sink.close()
            return
        self.backoff = 1.0
        self.on_write(self.sink.name, len(batch))

    def _dropped(self, count: int, reason: str) -> None:
        self.on_drop(self.sink.name, count)
        self.unreported += count
        self.last_error = reason
        self._report()

    def _report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.unreported and (force or now - self.reported_at >= LOG_INTERVAL):
            log.warning(
                "prediction log sink %s dropped %d records (%s)",
                self.sink.name,
                self.unreported,
                self.last_error,
            )
            self.unreported = 0
            self.reported_at = now

    def close(self, deadline: float) -> None:
        self.buffer.close()
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            left = len(self.buffer.records)
            log.warning("prediction log sink %s: %d records not written", self.sink.name, left)
            self.on_drop(self.sink.name, left)


class PredictionLog:
    """Fan records out to every configured sink without ever blocking the caller."""

    def __init__(
        self,
        spec: LoggingSpec,
        *,
        on_drop: Counted = _ignore,
        on_write: Counted = _ignore,
        sinks: Sequence[Sink] | None = None,
    ) -> None:
        self.spec = spec
        opened = list(sinks) if sinks is not None else open_sinks(spec.sinks, spec.n_best)
        self.writers = [_Writer(sink, spec, on_drop, on_write) for sink in opened]

    @property
    def sink_names(self) -> list[str]:
        return [w.sink.name for w in self.writers]

    def emit(self, records: Sequence[Record]) -> None:
        for writer in self.writers:
            writer.offer(records)

    def close(self) -> None:
        """Flush within ``flush_timeout`` seconds, then stop the writers."""
        deadline = time.monotonic() + self.spec.flush_timeout
        for writer in self.writers:
            writer.close(deadline)
