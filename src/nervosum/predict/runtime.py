"""One model's predictions, for every front end: its model thread, the batcher, timed and
counted model calls, and the prediction log.

HTTP (``serving/state.py``), streams (``stream/runtime.py``), graph steps and one-shot
``nervosum predict`` (``oneshot.py``) hold a :class:`ModelRuntime` and call it; none of
them validates records, makes a model thread, times a model call, or builds a
prediction-log record itself. What stays in a front end is what its transport needs:
reading requests or messages, its errors, acknowledging.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from nervosum.config import Project
from nervosum.config.types import Record
from nervosum.engine import Engine
from nervosum.errors import NervosumError
from nervosum.observe.metrics import PredlogMetrics, metrics_prefix
from nervosum.observe.predictions import PredictionMetrics
from nervosum.predict.batcher import Batcher, refuse_when_full, timed_out
from nervosum.predlog.events import Exchange, Origin, failure_record, prediction_records
from nervosum.predlog.writer import PredictionLog

T = TypeVar("T")
Answer = list[Record] | NervosumError


def user_code_thread(purpose: str) -> ThreadPoolExecutor:
    """The one thread user code runs on (a model, a graph step's class): it is not
    assumed thread-safe, and the event loop stays free while it computes."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"nervosum-{purpose}")


def answer(outputs: list[Record], many: bool) -> Record | list[Record]:
    """What a caller gets back: every output for a request of many records, the one
    output for a request of one (an empty object when a filter answered nothing)."""
    if many:
        return outputs
    return outputs[0] if outputs else {}


class ModelRuntime:
    """A model's thread, batcher, metered calls and prediction log, shared by every
    request or message of one front end."""

    def __init__(
        self,
        project: Project,
        predictions: PredictionMetrics,
        predlog_metrics: PredlogMetrics,
        *,
        runtime: str,
        batching: bool = True,
        timeout: float | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        """``runtime`` names the front end in prediction-log records (``http``,
        ``stream``, ``graph``); ``batching``: requests arrive one by one and are batched
        here (streams and graph steps read their batches themselves); ``timeout`` bounds
        each prediction's wait (None: no bound); ``on_batch`` sees the rows of each
        batched model call."""
        self.project = project
        self.predictions = predictions
        self.predlog_metrics = predlog_metrics
        self.kind = runtime
        self.batching = batching
        self.timeout = timeout
        self.on_batch = on_batch
        self.engine: Engine | None = None
        self.batcher: Batcher | None = None
        self.predlog: PredictionLog | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._unbatched_rows = 0
        self._origin: Origin | None = None

    @classmethod
    def on_registry(
        cls, project: Project, registry: CollectorRegistry, *, runtime: str
    ) -> ModelRuntime:
        """A runtime that takes its batches as they come, its metrics in ``registry``
        under the project's prefix: a graph step's, or a one-shot prediction's."""
        config = project.config
        prefix = metrics_prefix(config.metrics)
        return cls(
            project,
            PredictionMetrics(registry, prefix, config.name, config.metrics),
            PredlogMetrics(registry, prefix),
            runtime=runtime,
            batching=False,
        )

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The one model thread: user models are not assumed thread-safe, and the event loop
        stays free while the model computes. A model is also loaded on it, so objects it
        binds to its thread at load time work when it predicts."""
        if self._executor is None:
            self._executor = user_code_thread("model")
        return self._executor

    def serve(self, engine: Engine) -> None:
        """Answer with ``engine`` from now on: batched, for a front end that batches here,
        unless ``batching.enabled`` says otherwise or the model takes one record per call."""
        spec = self.project.config.batching
        batching = spec.enabled if spec.enabled is not None else not engine.handle.per_record
        if batching and self.batching:
            self.batcher = Batcher(
                engine,
                spec,
                self.executor,
                timeout=self.timeout,
                on_batch=self.on_batch,
                on_answers=self.predictions.observe,
            )
        self.predictions.describe_engine(engine)
        self.engine = engine

    def start(self) -> None:
        """Open the prediction log (``logging:``) and, after a :meth:`close`, take
        requests again on a new model thread."""
        spec = self.project.config.logging
        if spec is not None and self.predlog is None:
            self.predlog = PredictionLog(
                spec, on_drop=self.predlog_metrics.dropped, on_write=self.predlog_metrics.written
            )
            for name in self.predlog.sink_names:
                self.predlog_metrics.opened(name)
        if self.batcher is not None:
            self.batcher.reopen(self.executor)

    @property
    def serving(self) -> Engine:
        """The engine :meth:`serve` was given (a front end predicts only once it has one)."""
        assert self.engine is not None, "the runtime serves no model yet"
        return self.engine

    def parse(self, body: bytes) -> tuple[list[Record], bool]:
        """A JSON object or array as records valid for the input schema, and whether it
        held many (a 400 naming the row and field otherwise)."""
        return self.serving.inputs.parse_json(body)

    def validate(self, rows: Sequence[Any]) -> list[Record]:
        """Rows (decoded from any wire format: CSV, tensors, a graph message) as records
        valid for the input schema, defaults filled in."""
        return self.serving.inputs.validate(rows)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func`` on the model thread, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: func(*args))

    def predict(
        self, records: list[Record], *, proba: bool, alone: bool = False, staggered: bool = False
    ) -> Awaitable[list[Record]]:
        """One request's outputs: batched with others when batching is on, else one
        metered call; a 504 past ``timeout``. ``alone``: no other request is in progress;
        ``staggered``: its front end hands requests over one loop turn after another (see
        :meth:`Batcher.submit`). The batcher's own coroutine is returned as it is: no
        extra frame on the request path (the batcher bounds every wait itself)."""
        if self.batcher is not None:
            return self.batcher.submit(records, proba=proba, alone=alone, staggered=staggered)
        return self._unbatched_within_timeout(records, proba)

    async def _unbatched_within_timeout(self, records: list[Record], proba: bool) -> list[Record]:
        try:
            # asyncio.timeout, not wait_for: no extra task per request.
            async with asyncio.timeout(self.timeout):
                return await self._unbatched(records, proba)
        except TimeoutError:
            raise timed_out(self.timeout) from None

    async def transform(self, records: list[Record]) -> Record:
        """One ``transform_predict`` call on all of ``records`` (the seed routes of the
        multi-model server), metered, within ``timeout``."""
        try:
            async with asyncio.timeout(self.timeout):
                engine = self.serving
                (result,) = await self.run(self.metered, lambda: [engine.transform(records)])
        except TimeoutError:
            raise timed_out(self.timeout) from None
        return result

    async def explain(self, records: list[Record], *, which: str | None) -> Record:
        """Attributions of ``records`` on the model thread (as predictions: a model may
        be called from that thread only), within ``timeout``."""
        engine = self.serving
        try:
            async with asyncio.timeout(self.timeout):
                return await self.run(lambda: engine.explain(records, which=which))
        except TimeoutError:
            raise timed_out(self.timeout) from None

    async def predict_groups(self, groups: Sequence[list[Record]], *, proba: bool) -> list[Answer]:
        """Each group's outputs or error from one metered model call on the model thread
        (a failing call is split until only the failing groups get the error): a stream's
        or a graph step's batch of messages."""
        if not groups:
            return []
        engine = self.serving
        started = time.perf_counter()
        answers = await self.run(lambda: engine.predict_groups(groups, proba=proba))
        self.predictions.observe(answers, time.perf_counter() - started)
        return answers

    async def _unbatched(self, records: list[Record], proba: bool) -> list[Record]:
        engine = self.serving
        refuse_when_full(self._unbatched_rows, len(records), self.project.config.batching.max_queue)
        self._unbatched_rows += len(records)
        try:
            return await self.run(self.metered, lambda: engine.predict(records, proba=proba))
        finally:
            self._unbatched_rows -= len(records)

    def metered(self, call: Callable[[], list[Record]]) -> list[Record]:
        """A model call on the model thread, timed and counted in the prediction metrics."""
        started = time.perf_counter()
        try:
            outputs = call()
        except NervosumError:
            self.predictions.observe([], time.perf_counter() - started)
            raise
        self.predictions.observe([outputs], time.perf_counter() - started)
        return outputs

    def origin(self) -> Origin:
        """The model and front end every prediction-log record of this runtime names."""
        if self._origin is None:
            identity = self.serving.handle.identity
            config = self.project.config
            self._origin = Origin(
                config.name, config.tag, identity.uuid, identity.created, runtime=self.kind
            )
        return self._origin

    def answered_records(self, exchange: Exchange) -> list[Record]:
        """The prediction-log records of an answered request or message (none when the
        log is off)."""
        if self.predlog is None:
            return []
        spec = self.predlog.spec
        return prediction_records(
            exchange.origin or self.origin(),
            exchange,
            id_field=self.serving.id_field,
            keep_best=spec.n_best,
            log_inputs=spec.inputs,
        )

    def failed_records(self, exchange: Exchange, error: NervosumError, sent: Any) -> list[Record]:
        """The prediction-log record of a request or message that got no prediction,
        with what was sent (none when the log is off)."""
        if self.predlog is None:
            return []
        spec = self.predlog.spec
        origin = exchange.origin or self.origin()
        return [failure_record(origin, exchange, error, sent, log_inputs=spec.inputs)]

    def log(self, records: list[Record]) -> None:
        """Hand records to the prediction log (a bounded buffer: never blocks)."""
        if self.predlog is not None and records:
            self.predlog.emit(records)

    async def close(self) -> None:
        """Answer everything queued, flush the prediction log, release the model thread."""
        if self.batcher is not None:
            await self.batcher.drain()
        if self.predlog is not None:
            await asyncio.to_thread(self.predlog.close)
            self.predlog = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
