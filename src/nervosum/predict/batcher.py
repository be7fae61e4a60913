"""Adaptive micro-batching: concurrent requests merged into one model call.

One ``predict`` on 64 rows costs about what one on 1 row costs for tree ensembles and
most vectorised models, so throughput under load comes from merging requests. The
batcher is greedy: when the model is idle a request runs at once (waiting at most
``max_wait_ms`` for company), and while the model is busy arriving requests queue up and
all go in the next call, up to ``max_batch_size`` rows. Under light load it adds no
latency; under heavy load batches fill by themselves.

A model that may be called from any thread (ONNX Runtime) answers on the event loop
itself when its batch should take under :data:`INLINE_CALL_SECONDS` (judged from the last
call's time per row): the requests that arrived in one turn of the loop are one batch,
and no thread is woken. For such models the hand-off cost more than the call: two thread
hops (~0.1 ms against ~0.03 ms for the compiled forest's lone row, all of a quiet
server's latency) and, under load, the two threads taking the GIL from each other
(10,900 against 9,200 req/s for one worker at c=64, 16,500 against 12,000 for two).
A front end whose requests reach the loop one turn after another (gRPC hands its calls
to the loop so) says they are ``staggered``: such a request alone in the queue goes to
the model thread, where the ones arriving meanwhile join the next batch; answered one by
one on the loop, each would have been a batch of one.

Each request gets exactly its own rows back. A failing merged call is bisected by
:meth:`Engine.predict_groups`, so only the failing request gets the error. The queue is
bounded in rows: past ``max_queue`` a request is refused with 503 (backpressure)
instead of growing memory without limit. A request still unanswered ``timeout`` seconds
after it arrived gets the 504 (:func:`timed_out`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from nervosum.config.spec import BatchingSpec
from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.errors import NervosumError, OverloadedError, RequestTimeoutError
from nervosum.model.outputs import PROBABILITIES

# A batch runs on the event loop when it should take less (thread-safe models only): it
# holds the other connections up for less than a millisecond.
INLINE_CALL_SECONDS = 0.001


@dataclass(slots=True)
class _Pending:
    records: list[Record]
    proba: bool
    future: asyncio.Future[list[Record]]
    arrived: float
    staggered: bool = False


class _Deadlines:
    """Fails requests still unanswered ``seconds`` after they arrived, with one timer for all.

    Every request gets the same timeout, so deadlines come in arrival order: a queue of
    requests and one timer at the oldest deadline do what a timer per request
    (``asyncio.timeout``) did, at a fraction of its cost on the hot path.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._watched: deque[_Pending] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, pending: _Pending) -> None:
        watched = self._watched
        while watched and watched[0].future.done():  # answered: nothing left to bound
            watched.popleft()
        watched.append(pending)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.seconds, self._expire)

    def _expire(self) -> None:
        """Fail every request past its deadline, then wait for the next oldest one."""
        self._timer = None
        now = time.monotonic()
        watched = self._watched
        while watched:
            head = watched[0]
            if not head.future.done():
                remaining = head.arrived + self.seconds - now
                if remaining > 0:
                    self._timer = asyncio.get_running_loop().call_later(remaining, self._expire)
                    return
                head.future.set_exception(timed_out(self.seconds))
            watched.popleft()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def timed_out(seconds: float | None) -> RequestTimeoutError:
    """The 504 of a prediction the model did not answer within ``seconds``."""
    return RequestTimeoutError(
        f"no answer from the model within {seconds:g}s",
        hint="raise server.timeout (--timeout) or send fewer rows per request",
    )


def refuse_when_full(waiting: int, incoming: int, limit: int) -> None:
    """Backpressure: 503 once ``incoming`` rows would push ``waiting`` past ``limit``.

    An empty queue always takes a request, however large, so no request is refused forever.
    """
    if waiting and waiting + incoming > limit:
        raise OverloadedError(
            f"the request queue is full ({waiting} rows waiting)",
            hint="retry after a moment, or add workers / replicas",
        )


def _has_probabilities(records: list[Record]) -> bool:
    """Whether a batch's answers carry probabilities (another request of it asked)."""
    return bool(records) and PROBABILITIES in records[0]


def _without(records: list[Record]) -> list[Record]:
    """``records`` without their probabilities, for a request that did not ask for them."""
    return [{k: v for k, v in r.items() if k != PROBABILITIES} for r in records]


class Batcher:
    """Queues requests and feeds them to the model in merged calls.

    The model thread takes the batches itself: when a call returns it picks up whatever
    queued meanwhile and calls again, without a round trip through the event loop (which,
    busy with HTTP under load, left the model idle for ~6% of the time between calls).
    The event loop queues requests, hands out the answers, and runs the quick batches of
    a thread-safe model itself (see the module).
    """

    def __init__(
        self,
        engine: Engine,
        spec: BatchingSpec,
        executor: Executor,
        *,
        timeout: float | None = None,
        on_batch: Callable[[int], None] | None = None,
        on_answers: Callable[[list[list[Record] | NervosumError], float], None] | None = None,
    ) -> None:
        self.engine = engine
        self.executor = executor
        self.max_rows = spec.max_batch_size
        self.max_wait = spec.max_wait_ms / 1000
        self.max_queue = spec.max_queue
        # Observers: the rows of a batch as it goes to the model and the model's answers
        # with the call's duration (on the model thread).
        self.on_batch = on_batch
        self.on_answers = on_answers
        self._deadlines = _Deadlines(timeout) if timeout is not None else None
        # Guards the queue and _working between the event loop and the model thread, and
        # wakes a model thread that waits for company when a request arrives.
        self._lock = threading.Condition(threading.Lock())
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._working = False  # a model-thread job is taking batches
        self._closing = False
        self._last_batch_requests = 0  # concurrency seen lately: only then is waiting worth it
        self._inline = engine.thread_safe
        self._row_seconds = float("inf")  # the last model call's time per row

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    async def submit(
        self, records: list[Record], *, proba: bool, alone: bool = False, staggered: bool = False
    ) -> list[Record]:
        """The outputs for ``records``, computed in a batch with whatever else is queued.

        ``alone``: no other request was in progress in this process when this one's task
        started, so none is likely to join the batch: a quick batch is answered now
        instead of a loop turn later (at c=1 that turn and the task's suspension were
        ~15% of a request). A request that arrives meanwhile goes in the next batch.
        ``staggered``: requests like this one reach the loop one turn after another (see
        the module)."""
        if not records:
            return []
        if self._closing:
            raise OverloadedError("the server is shutting down", hint="retry on another replica")
        loop = asyncio.get_running_loop()
        pending = _Pending(records, proba, loop.create_future(), time.monotonic(), staggered)
        with self._lock:
            refuse_when_full(self._queued_rows, len(records), self.max_queue)
            self._queue.append(pending)
            self._queued_rows += len(records)
            start = not self._working
            self._working = True
            self._lock.notify()
        if start and alone:
            self._start(loop)
        elif start:  # after this loop turn, so requests arriving together start together
            loop.call_soon(self._start, loop)
        if self._deadlines is not None and not pending.future.done():
            self._deadlines.watch(pending)
        return await pending.future

    def reopen(self, executor: Executor) -> None:
        """Accept requests again after a :meth:`drain` (an app started a second time),
        with the model thread of this start (the last one's was shut down)."""
        self.executor = executor
        self._closing = False

    async def drain(self) -> None:
        """Finish everything queued and in the model, then stop (graceful shutdown)."""
        self._closing = True
        with self._lock:
            self._lock.notify()  # no more company will come: stop waiting for it
        while self._working:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)  # hand out the answers the model thread has just posted
        if self._deadlines is not None:
            self._deadlines.stop()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the event loop, a turn after a request found the model idle: answer a quick
        batch here, else hand the queue to the model thread."""
        with self._lock:
            batch = self._take() if self._quick() and not self._staggered_alone() else None
        if batch is None:
            self.executor.submit(self._work, loop)
            return
        try:
            if batch:  # else its clients have given up meanwhile
                self._last_batch_requests = len(batch)
                answers = self._predict(batch)
                if isinstance(answers, Exception):
                    _fail(batch, answers)
                else:
                    _answer(batch, answers)
        except Exception as exc:  # a nervosum bug: the batch fails, the batcher goes on
            _fail(batch, exc)
        finally:
            with self._lock:  # only rows past one batch can be left: nothing ran meanwhile
                if self._queue:
                    loop.call_soon(self._start, loop)  # after the loop has served its sockets
                else:
                    self._working = False

    def _quick(self) -> bool:
        """Whether the next batch may run on the event loop: the model may be called from
        any thread, and the last call's time per row says it takes under
        INLINE_CALL_SECONDS. Called with the lock held."""
        # What _take takes: up to max_rows, and the first request it keeps (one whose
        # client has not given up) whole however large.
        first = next((p for p in self._queue if not p.future.done()), None)
        rows = max(len(first.records) if first else 1, min(self._queued_rows, self.max_rows))
        return self._inline and rows * self._row_seconds < INLINE_CALL_SECONDS

    def _staggered_alone(self) -> bool:
        """Whether the queue holds one staggered request (called with the lock held)."""
        return len(self._queue) == 1 and self._queue[0].staggered

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the model thread: predict batch after batch until the queue is empty, or
        until the batches are quick enough for the event loop to take them itself."""
        while True:
            with self._lock:
                self._wait_for_company()
                batch = self._take()
                if not batch:  # _take empties the queue before it returns nothing
                    self._working = False
                    return
            self._last_batch_requests = len(batch)
            answers = self._predict(batch)
            if isinstance(answers, Exception):
                loop.call_soon_threadsafe(_fail, batch, answers)
            else:
                loop.call_soon_threadsafe(_answer, batch, answers)
            with self._lock:
                # Else a client that asks again at once stays here, and so do staggered
                # requests: the next ones arrive while this one computes.
                if self._quick() and not self._staggered_alone():
                    if self._queue:
                        loop.call_soon_threadsafe(self._start, loop)
                    else:
                        self._working = False
                    return

    def _wait_for_company(self) -> None:
        """With an idle model, give other requests up to max_wait to join the first one.

        Only when the last batch held several requests: a lone client (concurrency 1)
        would otherwise pay the wait on every request for company that never comes.
        Called with the lock held; waiting releases it so requests can arrive.
        """
        if self._last_batch_requests <= 1 or not self._queue:
            return
        deadline = self._queue[0].arrived + self.max_wait
        while self._queued_rows < self.max_rows and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._lock.wait(remaining)

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

    def _predict(self, batch: list[_Pending]) -> list[list[Record] | NervosumError] | Exception:
        """Each request's answer from one merged call, or what broke the call itself."""
        groups = [p.records for p in batch]
        try:
            if self.on_batch is not None:
                self.on_batch(sum(len(g) for g in groups))
            started = time.perf_counter()
            answers = self.engine.predict_groups(groups, proba=any(p.proba for p in batch))
            seconds = time.perf_counter() - started
            self._row_seconds = seconds / max(1, sum(len(g) for g in groups))
            if self.on_answers is not None:
                self.on_answers(answers, seconds)
        except Exception as exc:  # the engine maps model errors; this is a nervosum bug
            return exc
        return answers


def _answer(batch: list[_Pending], answers: list[list[Record] | NervosumError]) -> None:
    """On the event loop: give each request of a batch its own answer."""
    for pending, answer in zip(batch, answers, strict=True):
        if pending.future.done():
            continue
        if isinstance(answer, NervosumError):
            pending.future.set_exception(answer)
        else:
            pending.future.set_result(
                answer if pending.proba or not _has_probabilities(answer) else _without(answer)
            )


def _fail(batch: list[_Pending], exc: Exception) -> None:
    """On the event loop: a call that failed outside the model's error mapping fails its batch."""
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)
