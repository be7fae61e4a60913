"""Adaptive micro-batching: concurrent requests merged into one model call.

One ``predict`` on 64 rows costs about what one on 1 row costs for tree ensembles and
most vectorised models, so throughput under load comes from merging requests. The
batcher is greedy: when the model is idle a request runs at once (waiting at most
``max_wait_ms`` for company), and while the model is busy arriving requests queue up and
all go in the next call, up to ``max_batch_size`` rows. Under light load it adds no
latency; under heavy load batches fill by themselves.

Each request gets exactly its own rows back. A failing merged call is bisected by
:meth:`Engine.predict_groups`, so only the failing request gets the error. The queue is
bounded in rows: past ``max_queue`` a request is refused with 503 (backpressure)
instead of growing memory without limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nervosum.config.spec import BatchingSpec
from nervosum.engine import Engine
from nervosum.errors import NervosumError, OverloadedError
from nervosum.model import PROBABILITIES
from nervosum.schema import Record

# Runs a call on the model thread: the batcher never calls the model on the event loop.
ModelRunner = Callable[
    [Callable[[], list[list[Record] | NervosumError]]],
    Awaitable[list[list[Record] | NervosumError]],
]


@dataclass
class _Pending:
    records: list[Record]
    proba: bool
    future: asyncio.Future[list[Record]]
    arrived: float = field(default_factory=time.monotonic)


def refuse_when_full(waiting: int, incoming: int, limit: int) -> None:
    """Backpressure: 503 once ``incoming`` rows would push ``waiting`` past ``limit``.

    An empty queue always takes a request, however large, so no request is refused forever.
    """
    if waiting and waiting + incoming > limit:
        raise OverloadedError(
            f"the request queue is full ({waiting} rows waiting)",
            hint="retry after a moment, or add workers / replicas",
        )


def _without_probabilities(records: list[Record]) -> list[Record]:
    return [{k: v for k, v in r.items() if k != PROBABILITIES} for r in records]


class Batcher:
    """Queues requests and feeds them to the model thread in merged calls."""

    def __init__(
        self,
        engine: Engine,
        spec: BatchingSpec,
        run: ModelRunner,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.run = run
        self.max_rows = spec.max_batch_size
        self.max_wait = spec.max_wait_ms / 1000
        self.max_queue = spec.max_queue
        self.on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._arrival = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._busy = False  # a batch is with the model
        self._last_batch_requests = 0  # concurrency seen lately: only then is waiting worth it

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    async def submit(self, records: list[Record], *, proba: bool) -> list[Record]:
        """The outputs for ``records``, computed in a batch with whatever else is queued."""
        if not records:
            return []
        if self._closing:
            raise OverloadedError("the server is shutting down", hint="retry on another replica")
        refuse_when_full(self._queued_rows, len(records), self.max_queue)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="nervosum-batcher"
            )
        pending = _Pending(records, proba, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._queued_rows += len(records)
        self._arrival.set()
        return await pending.future

    def reopen(self) -> None:
        """Accept requests again after a :meth:`drain` (an app started a second time)."""
        self._closing = False
        self._task = None

    async def drain(self) -> None:
        """Finish everything queued, then stop (graceful shutdown)."""
        self._closing = True
        while self._queue or self._busy:
            self._arrival.set()
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._arrival.wait()
            self._arrival.clear()
            while self._queue:
                await self._wait_for_company()
                batch = self._take()
                self._last_batch_requests = len(batch)
                if batch:
                    self._busy = True
                    try:
                        await self._predict(batch)
                    finally:
                        self._busy = False

    async def _wait_for_company(self) -> None:
        """With an idle model, give other requests up to max_wait to join the first one.

        Only when the last batch held several requests: a lone client (concurrency 1)
        would otherwise pay the wait on every request for company that never comes.
        """
        if self._last_batch_requests <= 1:
            return
        deadline = self._queue[0].arrived + self.max_wait
        while self._queued_rows < self.max_rows:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0].records) <= self.max_rows):
            pending = self._queue.popleft()
            self._queued_rows -= len(pending.records)
            if pending.future.done():  # the client gave up (timeout): skip its rows
                continue
            batch.append(pending)
            rows += len(pending.records)
        return batch

    async def _predict(self, batch: list[_Pending]) -> None:
        groups = [p.records for p in batch]
        proba = any(p.proba for p in batch)
        if self.on_batch is not None:
            self.on_batch(sum(len(g) for g in groups))
        try:
            answers = await self.run(lambda: self.engine.predict_groups(groups, proba=proba))
        except Exception as exc:  # the engine maps model errors; this is a nervosum bug
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending, answer in zip(batch, answers, strict=True):
            if pending.future.done():
                continue
            if isinstance(answer, NervosumError):
                pending.future.set_exception(answer)
            else:
                pending.future.set_result(
                    answer if pending.proba else _without_probabilities(answer)
                )
