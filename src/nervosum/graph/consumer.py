"""One graph step as a consumer-group member on a broker: what ``graph run --transport
URL --step NAME`` runs, once per replica.

The step reads each of its input streams with its own consumer group (the step's
snake_case name), in batches; every message goes through :class:`StepProcessor`; the
batch's outputs and dead letters are written (retried until the broker has them), and
only then is the batch acknowledged: at-least-once, as the stream runtime. A converge
step keeps its groups in the broker (Redis hashes, a NATS key-value bucket), so a
restarted process loses none and emits each group once. A message delivered more than
``max_deliveries`` times goes to the dead letter instead of to the step again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from nervosum.brokers.addresses import Endpoint
from nervosum.brokers.converge import ConvergeStore, Emit
from nervosum.brokers.schemes import open_store, open_transport
from nervosum.brokers.transport import Message, Outgoing, Transport
from nervosum.config.spec import MetricsSpec
from nervosum.errors import NervosumError, RequestError
from nervosum.graph.load import Graph
from nervosum.graph.process import Read, StepProcessor
from nervosum.graph.spec import Step
from nervosum.graph.step import StepCode
from nervosum.jsonio import dumps
from nervosum.observe.merge import merged_exposition
from nervosum.predict.runtime import user_code_thread
from nervosum.stream.letters import DeadLetter, too_often
from nervosum.stream.metrics import StreamMetrics
from nervosum.stream.runtime import persist

log = logging.getLogger("nervosum.graph")

DONE_TTL = 24 * 3600  # how long an emitted converge key is remembered, at least


@dataclass(frozen=True)
class StepSettings:
    batch_size: int = 64
    max_wait_ms: float = 100.0
    max_deliveries: int = 5
    idle_ms: int = 30_000
    drain_timeout: float = 30.0


class StepConsumer:
    """One replica of one step, reading every input of the step."""

    def __init__(self, graph: Graph, step: Step, broker: Endpoint, settings: StepSettings) -> None:
        if step.converge is not None and broker.scheme == "kafka":
            raise RequestError(
                f"step {step.name!r} converges, and converge groups are kept in the broker:"
                " Redis or NATS",
                hint="run the graph with --transport redis://... or nats://...",
            )
        self.graph = graph
        self.spec = graph.spec
        self.step = step
        self.broker = broker
        self.settings = settings
        self.metrics = StreamMetrics(f"{self.spec.slug}/{step.name}", MetricsSpec())
        self.connected = False
        self._stopping = asyncio.Event()
        self._code_thread = user_code_thread("step")
        self.code = StepCode(graph, step)
        self.names = {stream: self.spec.stream_name(stream) for stream in self.spec.streams}
        self.inputs: dict[str, Transport] = {
            stream: open_transport(
                Endpoint(
                    broker.scheme, broker.host, broker.port, self.names[stream], broker.database
                ),
                step.group,
                idle_ms=settings.idle_ms,
            )
            for stream in step.inputs
        }
        self.writer = next(iter(self.inputs.values()))
        self._pending: list[Emit] = []
        self._batch = asyncio.Lock()
        self.processor: StepProcessor | None = None

    @property
    def drain_timeout(self) -> float:
        return self.settings.drain_timeout

    def exposition(self) -> bytes:
        """The step's metrics: the stream worker's, and a project step's predictions."""
        registries = [self.metrics.registry]
        if self.code.registry is not None:
            registries.append(self.code.registry)
        return merged_exposition(registries)

    def stop(self) -> None:
        self._stopping.set()

    async def stopping(self) -> None:
        await self._stopping.wait()

    async def lag(self) -> int | None:
        values = [await t.lag() for t in self.inputs.values()]
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    async def _send(self, emits: list[Emit]) -> None:
        self._pending += emits

    async def _store(self) -> ConvergeStore | None:
        if self.step.converge is None:
            return None
        ttl = max(DONE_TTL, int(self.step.converge.timeout * 4))
        return await open_store(self.writer, self.spec.slug, self.step.name, self.names, ttl)

    async def run(self) -> None:
        try:
            for transport in self.inputs.values():
                await transport.connect()
            store = await self._store()
        except Exception as exc:
            for transport in self.inputs.values():
                await transport.close()
            raise NervosumError(
                f"cannot reach {self.broker.server}: {type(exc).__name__}: {exc}",
                hint="check the address and that the broker is running",
            ) from None
        self.processor = StepProcessor(
            self.spec,
            self.step,
            self.code,
            send=self._send,
            store=store,
            executor=self._code_thread,
        )
        await self.code.start()
        self.connected = True
        log.info("step %s reading %s", self.step.name, ", ".join(self.step.inputs))
        readers = [asyncio.create_task(self._consume(name, t)) for name, t in self.inputs.items()]
        expiring = asyncio.create_task(self._expire()) if store is not None else None
        try:
            await asyncio.gather(*readers)
        finally:
            self.connected = False
            for task in [*readers, *([expiring] if expiring else [])]:
                task.cancel()
            for transport in self.inputs.values():
                await transport.close()
            await self.code.close()
            self._code_thread.shutdown(wait=True)

    async def _consume(self, stream: str, transport: Transport) -> None:
        while not self._stopping.is_set():
            messages = await transport.read(self.settings.batch_size, self.settings.max_wait_ms)
            if messages:
                async with self._batch:  # one batch at a time: the pending outputs are its own
                    await self._handle(stream, transport, messages)

    async def _handle(self, stream: str, transport: Transport, messages: list[Message]) -> None:
        assert self.processor is not None
        self.metrics.read.inc(len(messages))
        self.metrics.batch_size.observe(len(messages))
        letters: list[DeadLetter] = []
        limit = self.settings.max_deliveries
        emitted = self.processor.emitted
        with self.metrics.latency.time():
            fresh: list[Read] = []
            for message in messages:
                read = Read(message.payload, message.position, message.attempts)
                if message.attempts > limit:
                    error = too_often(message.attempts, limit)
                    letters.append(
                        self.processor.letter(
                            error, stream, read.position, read.payload, attempts=read.attempts
                        )
                    )
                else:
                    fresh.append(read)
            letters += await self.processor.handle_many(stream, fresh)
            await self._flush(letters)
            await transport.ack(messages)
        self.metrics.written.inc(self.processor.emitted - emitted)

    async def _flush(self, letters: list[DeadLetter]) -> None:
        """Write the batch's outputs per stream, then its dead letters."""
        emits, self._pending = self._pending, []
        by_stream: dict[str, list[Outgoing]] = {}
        for emit in emits:
            outgoing = Outgoing(emit.key.encode(), emit.payload)
            by_stream.setdefault(self.names[emit.stream], []).append(outgoing)
        for name, outgoing_list in by_stream.items():
            await persist(self.writer, name, outgoing_list, self.metrics)
        if letters:
            for letter in letters:
                log.warning(
                    "dead-lettered %s from %s: %s", letter.position, letter.source, letter.reason
                )
            records = [
                Outgoing(
                    letter.key.encode() if letter.key else None,
                    dumps(letter.to_record(self.spec.slug)),
                )
                for letter in letters
            ]
            await persist(self.writer, self.spec.dead_letter_name, records, self.metrics)
            self.metrics.dead_lettered.inc(len(letters))

    async def _expire(self) -> None:
        """Every few seconds, converge groups past their timeout go to the dead letter:
        the letters are written first and the groups dropped after, so a crash between
        the two repeats a letter instead of losing a group. A broker error is logged and
        tried again at the next round."""
        assert self.processor is not None and self.step.converge is not None
        every = min(max(self.step.converge.timeout / 4, 0.2), 5.0)
        while not self._stopping.is_set():
            await asyncio.sleep(every)
            try:
                expired = await self.processor.expire()
                if expired:
                    async with self._batch:
                        await self._flush([letter for letter, _stale in expired])
                    await self.processor.forget([stale for _letter, stale in expired])
            except Exception as exc:
                log.warning("expiring converge groups failed, retrying: %s", exc)
