"""The stream worker: read a batch, predict it in one model call, write the outputs,
then acknowledge. Shared by every transport.

Each message is a JSON object (one record) or an array (records). Every message of a
batch is validated on its own; the valid ones are predicted together
(``Engine.predict_groups`` splits a failing call until only the failing messages get
the error). An output message holds the input's id field and the prediction (and
probabilities with ``proba``), under the input's key. A message that cannot be parsed,
fails validation, makes the model raise, or was delivered more than
``max_deliveries`` times goes to the dead letter with its payload, the reason, its
position and its attempt count. Acknowledgement comes last, after the broker confirmed
both writes, so delivery is at-least-once; a failed write is retried with backoff and
nothing is acknowledged until it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nervosum.brokers.transport import Message, Outgoing, Transport
from nervosum.config.types import Record
from nervosum.errors import ModelOutputError, NervosumError, new_error_id
from nervosum.jsonio import dumps
from nervosum.predict.runtime import ModelRuntime
from nervosum.predict.runtime import answer as reply
from nervosum.predlog.events import Exchange
from nervosum.stream.drift import StreamDrift
from nervosum.stream.letters import DeadLetter, too_often
from nervosum.stream.metrics import StreamMetrics
from nervosum.stream.sideport import SidePort

log = logging.getLogger("nervosum.stream")

MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class StreamSettings:
    """How the worker reads, writes and stops."""

    sink: str
    dead_letter: str | None
    source_label: str
    batch_size: int = 256
    max_wait_ms: float = 100.0
    max_deliveries: int = 5
    proba: bool = False
    drain_timeout: float = 30.0


@dataclass
class _Parsed:
    message: Message
    records: list[Record]
    many: bool


def dead_letter(message: Message, error: NervosumError, source: str) -> Outgoing:
    """What the dead letter holds for ``message``: enough to replay (from its position when
    the payload was cut) or diagnose it."""
    key = message.key.decode("utf-8", "replace") if message.key is not None else None
    letter = DeadLetter(error, source, message.position, message.payload, message.attempts, key)
    return Outgoing(message.key, dumps(letter.to_record()))


def unreadable(error: Exception) -> NervosumError:
    """The dead letter's error for a message whose reading failed unexpectedly (a bug,
    logged with its traceback): one poison message must not stop every consumer."""
    return NervosumError(
        f"the message could not be read: {type(error).__name__}: {error}",
        hint="the worker log has the traceback; please report it",
    )


def unwritable(message: Message, error: Exception) -> ModelOutputError:
    """The dead letter's error for a message whose outputs JSON cannot hold, logged under
    a fresh error id as the engine logs a model failure."""
    error_id = new_error_id()
    log.error(
        "the output for %s cannot be written [error_id=%s]: %s", message.position, error_id, error
    )
    return ModelOutputError(
        f"the model's output cannot be written as JSON: {error} (error id {error_id})",
        error_id=error_id,
    )


class StreamWorker:
    """One consumer-group member running one model."""

    def __init__(
        self,
        runtime: ModelRuntime,
        transport: Transport,
        settings: StreamSettings,
        metrics: StreamMetrics,
        drift: StreamDrift | None = None,
    ) -> None:
        """``runtime``: the model's, serving an engine; it logs each message's prediction
        (or failure) when the project's log is on, as on HTTP. Its owner closes it.
        ``drift``: the live drift window the answered messages go to (with a reference)."""
        self.runtime = runtime
        self.transport = transport
        self.settings = settings
        self.metrics = metrics
        self.drift = drift
        self.connected = False
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop reading; the batch in hand is finished and acknowledged first."""
        self._stopping.set()

    async def stopping(self) -> None:
        """Returns once :meth:`stop` was called."""
        await self._stopping.wait()

    @property
    def drain_timeout(self) -> float:
        return self.settings.drain_timeout

    async def lag(self) -> int | None:
        return await self.transport.lag()

    async def run(self) -> None:
        try:
            await self.transport.connect()
        except Exception as exc:
            await self.transport.close()
            raise NervosumError(
                f"cannot reach {self.settings.source_label}: {type(exc).__name__}: {exc}",
                hint="check the address and that the broker is running",
            ) from None
        self.connected = True
        log.info("reading %s as group member", self.settings.source_label)
        try:
            while not self._stopping.is_set():
                messages = await self.transport.read(
                    self.settings.batch_size, self.settings.max_wait_ms
                )
                if messages:
                    await self.handle(messages)
        finally:
            self.connected = False
            await self.transport.close()

    async def handle(self, messages: list[Message]) -> None:
        """One batch, from parsing to acknowledgement."""
        started = time.perf_counter()
        self.metrics.read.inc(len(messages))
        self.metrics.batch_size.observe(len(messages))
        parsed, dead = self._parse(messages)
        outputs, failed, answered = await self._predict(parsed)
        dead += failed
        await persist(self.transport, self.settings.sink, outputs, self.metrics)
        if dead:
            letters = [dead_letter(m, e, self.settings.source_label) for m, e in dead]
            for message, error in dead:
                log.warning("dead-lettered %s: %s", message.position, error)
            if self.settings.dead_letter is not None:
                await persist(self.transport, self.settings.dead_letter, letters, self.metrics)
        await self.transport.ack(messages)
        self._log(answered, dead, started)
        self._observe(answered)
        self.metrics.written.inc(len(outputs))
        self.metrics.dead_lettered.inc(len(dead))
        self.metrics.latency.observe(time.perf_counter() - started)

    def _parse(
        self, messages: Sequence[Message]
    ) -> tuple[list[_Parsed], list[tuple[Message, NervosumError]]]:
        parsed: list[_Parsed] = []
        dead: list[tuple[Message, NervosumError]] = []
        limit = self.settings.max_deliveries
        for message in messages:
            if message.attempts > limit:
                dead.append((message, too_often(message.attempts, limit)))
                continue
            try:
                records, many = self.runtime.parse(message.payload)
            except NervosumError as exc:
                dead.append((message, exc))
                continue
            except Exception as exc:  # a reader bug must cost this message, not the group
                log.exception("reading %s failed", message.position)
                dead.append((message, unreadable(exc)))
                continue
            parsed.append(_Parsed(message, records, many))
        return parsed, dead

    async def _predict(
        self, parsed: list[_Parsed]
    ) -> tuple[
        list[Outgoing], list[tuple[Message, NervosumError]], list[tuple[_Parsed, list[Record]]]
    ]:
        """Outputs to write, messages that failed, and each answered message's outputs."""
        if not parsed:
            return [], [], []
        groups = [item.records for item in parsed]
        answers = await self.runtime.predict_groups(groups, proba=self.settings.proba)
        outputs: list[Outgoing] = []
        failed: list[tuple[Message, NervosumError]] = []
        answered: list[tuple[_Parsed, list[Record]]] = []
        for item, answer in zip(parsed, answers, strict=True):
            if isinstance(answer, NervosumError):
                failed.append((item.message, answer))
                continue
            try:
                payload = dumps(reply(answer, item.many))
            except TypeError as exc:  # e.g. an int beyond 64 bits, which JSON cannot hold
                failed.append((item.message, unwritable(item.message, exc)))
                continue
            outputs.append(Outgoing(item.message.key, payload))
            answered.append((item, answer))
        return outputs, failed, answered

    def _observe(self, answered: list[tuple[_Parsed, list[Record]]]) -> None:
        """Keep the answered messages' rows for live drift (nothing without a reference);
        dead letters are not traffic the model answered, so they are not counted."""
        if self.drift is not None:
            for item, outputs in answered:
                self.drift.observe(item.records, outputs)

    def _log(
        self,
        answered: list[tuple[_Parsed, list[Record]]],
        dead: list[tuple[Message, NervosumError]],
        started: float,
    ) -> None:
        """Each message's records in the prediction log: its predictions, or its failure;
        the latency is the batch's, from reading to acknowledging."""
        runtime = self.runtime
        if runtime.predlog is None:
            return
        route = self.settings.source_label
        records: list[Record] = []
        for item, outputs in answered:
            exchange = Exchange(
                item.message.position, route, started, inputs=item.records, outputs=outputs
            )
            records += runtime.answered_records(exchange)
        for message, error in dead:
            exchange = Exchange(message.position, route, started)
            records += runtime.failed_records(exchange, error, message.payload)
        runtime.log(records)


async def persist(
    transport: Transport, destination: str, messages: Sequence[Outgoing], metrics: StreamMetrics
) -> None:
    """Write until the broker has them; a failure is retried with backoff, also while
    stopping (a batch is not acknowledged before it is written)."""
    delay = 0.1
    while messages:
        try:
            await transport.write(destination, messages)
            return
        except Exception as exc:
            metrics.retries.inc()
            log.warning(
                "writing %d messages to %s failed, retrying: %s", len(messages), destination, exc
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)


class Consumer(Protocol):
    """What :func:`serve_stream` runs: a model's stream worker, or a graph step."""

    connected: bool
    metrics: StreamMetrics

    @property
    def drain_timeout(self) -> float: ...

    def stop(self) -> None: ...

    async def stopping(self) -> None: ...

    async def run(self) -> None: ...

    async def lag(self) -> int | None: ...


async def serve_stream(worker: Consumer, side: SidePort | None, *, lag_every: float = 5.0) -> int:
    """Run ``worker`` until SIGTERM / SIGINT, then let it finish and acknowledge the batch
    in hand within ``drain_timeout``; the exit code (0 drained, 1 not in time)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    if side is not None:
        await side.start()
    lag = loop.create_task(_watch_lag(worker, lag_every))
    task = loop.create_task(worker.run())
    stopping = loop.create_task(worker.stopping())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), worker.drain_timeout)
            except TimeoutError:
                task.cancel()
                log.error("the batch in hand was not done within %gs", worker.drain_timeout)
                return 1
        task.result()
        log.info("stopped; every message read was acknowledged")
        return 0
    finally:
        stopping.cancel()
        lag.cancel()
        if side is not None:
            await side.stop()


async def _watch_lag(worker: Consumer, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        if worker.connected:
            try:
                value = await worker.lag()
            except Exception:
                continue
            if value is not None:
                worker.metrics.lag.set(value)
