"""A whole graph in one process: for development (``graph run --local``) and for HTTP
(``graph serve``).

Streams are in-memory queues. A message fed in is carried through every step it
reaches before the next one is fed, so a run is deterministic. Messages written to a
stream no step reads are the graph's results; messages a step refuses are its dead
letters. Converge groups live in a :class:`MemoryStore` per run.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Executor

from prometheus_client import CollectorRegistry

from nervosum.brokers.converge import Emit, MemoryStore
from nervosum.graph.load import Graph
from nervosum.graph.process import StepProcessor
from nervosum.graph.step import StepCode
from nervosum.stream.letters import DeadLetter


class GraphCode:
    """Every step's code, loaded once (models included) and shared by runs."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.spec = graph.spec
        self.codes = {s.name: StepCode(graph, s) for s in graph.spec.steps}

    def registries(self) -> list[CollectorRegistry]:
        """The project steps' metrics (prediction metrics, one registry per model)."""
        return [code.registry for code in self.codes.values() if code.registry is not None]

    async def start(self) -> None:
        """Open the project steps' prediction logs."""
        for code in self.codes.values():
            await code.start()

    async def close(self) -> None:
        """Release the project steps' model threads and flush their logs: every step's,
        even when one of them fails (the first failure is raised after)."""
        failures = []
        for code in self.codes.values():
            try:
                await code.close()
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]


class LocalRun:
    """One run of the graph: its queues, converge groups and what came out."""

    def __init__(
        self, code: GraphCode, executor: Executor | None = None, *, label: str = ""
    ) -> None:
        """``label`` begins the positions of the messages steps write (``<label>#3``): a
        request's id under ``graph serve``, so prediction-log ids differ per request."""
        self.spec = code.spec
        self.label = label
        # stream, body, position, and the Emit when a step wrote it
        self._pending: deque[tuple[str, bytes, str, Emit | None]] = deque()
        self._sent = 0
        self.results: list[Emit] = []
        self.letters: list[DeadLetter] = []
        self.fed = 0
        self.readers: dict[str, list[StepProcessor]] = {}
        self.processors: list[StepProcessor] = []
        for step in self.spec.steps:
            store = MemoryStore(self._send) if step.converge is not None else None
            processor = StepProcessor(
                self.spec,
                step,
                code.codes[step.name],
                send=self._send,
                store=store,
                executor=executor,
            )
            self.processors.append(processor)
            for stream in step.inputs:
                self.readers.setdefault(stream, []).append(processor)

    async def _send(self, emits: list[Emit]) -> None:
        for emit in emits:
            self._sent += 1
            self._pending.append((emit.stream, emit.payload, f"{self.label}#{self._sent}", emit))

    async def feed(self, stream: str, payload: bytes, position: str) -> None:
        """Carry one message from ``stream`` through every step it reaches."""
        self.fed += 1
        self._pending.append((stream, payload, position, None))
        while self._pending:
            name, body, where, emit = self._pending.popleft()
            readers = self.readers.get(name)
            if not readers:
                if emit is not None:  # written by a step to a stream no step reads
                    self.results.append(emit)
                continue
            for processor in readers:
                letter = await processor.handle(name, body, where)
                if letter is not None:
                    self.letters.append(letter)

    async def finish(self) -> None:
        """The input ended: open converge groups become dead letters."""
        for processor in self.processors:
            expired = await processor.expire(ended=True)
            self.letters += [letter for letter, _stale in expired]
            await processor.forget([stale for _letter, stale in expired])

    @property
    def filtered(self) -> int:
        return sum(p.filtered for p in self.processors)
