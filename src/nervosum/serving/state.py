"""What a running HTTP app knows: its project, its engine once loaded, and its metrics.

The model loads in the background, so the process answers ``/health/live`` at once and
``/health/ready`` (503) until the model is there: Kubernetes then never kills a pod for
a slow load, and clients get a clear "not ready" instead of a refused connection.

Every protocol predicts through :meth:`ServingState.infer`, which applies batching,
backpressure and the request timeout the same way for all of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from nervosum.config import Project
from nervosum.config.spec import ServerSpec
from nervosum.engine import Engine
from nervosum.errors import NervosumError, NotReadyError, RequestTimeoutError
from nervosum.model.compile.threads import serving_threads
from nervosum.observe.metrics import HttpMetrics
from nervosum.predlog.events import (
    Exchange,
    Origin,
    failure_record,
    feedback_records,
    prediction_ids,
    prediction_records,
)
from nervosum.predlog.writer import PredictionLog
from nervosum.schema import Record
from nervosum.serving.batcher import Batcher, refuse_when_full
from nervosum.serving.body import check_row_count
from nervosum.serving.exchange import current as current_exchange
from nervosum.serving.model_process import RemoteEngine

log = logging.getLogger("nervosum.serving")

T = TypeVar("T")


class ServingState:
    """Shared by every request of one app."""

    def __init__(
        self,
        project: Project,
        settings: ServerSpec,
        *,
        engine: Engine | None = None,
        debug: bool = False,
        on_load_failure: Callable[[BaseException], None] | None = None,
        on_loaded: Callable[[], None] | None = None,
        metrics: HttpMetrics | None = None,
    ) -> None:
        """``metrics`` carries a model's counters over from a version it replaces."""
        self.project = project
        self.settings = settings
        self.debug = debug
        self.expose_details = project.config.errors.expose_details
        self.metrics = metrics or HttpMetrics(project.config.name, project.config.metrics)
        self.on_load_failure = on_load_failure
        self.on_loaded = on_loaded
        self.load_error: BaseException | None = None
        self.openapi: dict[str, Any] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self.batcher: Batcher | None = None
        self._unbatched_rows = 0
        self.predlog: PredictionLog | None = None
        self._origin: Origin | None = None
        if engine is not None:
            self._set_ready(engine)

    def _set_ready(self, engine: Engine) -> None:
        spec = self.project.config.batching
        batching = spec.enabled if spec.enabled is not None else not engine.handle.per_record
        if batching:
            batcher = Batcher(
                engine,
                spec,
                self.executor,
                timeout=self.settings.timeout,
                on_batch=self.metrics.batch_rows.observe,
                on_answers=self.metrics.predictions.observe,
            )
            self.batcher = batcher
            self.metrics.queued_rows = lambda: batcher.queued_rows
        self._engine = engine
        if isinstance(engine, RemoteEngine):
            engine.when_lost(self._model_process_lost)
        handle = engine.handle
        self.metrics.predictions.describe_engine(engine)
        self.metrics.loaded(
            self.project.config.tag,
            handle.identity.uuid,
            handle.load_seconds,
            handle.runtime,
            handle.loaded.compile_info,
        )

    @property
    def engine(self) -> Engine | None:
        """The engine while it can answer: None while the model loads, after a failed load
        and while its model process is down, so every readiness route says not ready."""
        engine = self._engine
        return engine if engine is not None and engine.running else None

    def _model_process_lost(self, error: NervosumError) -> None:
        """The model process kept dying: the model is as lost as one that failed to load,
        so the server stops the same way (exit code 1)."""
        self.load_error = error
        if self.on_load_failure is not None:
            self.on_load_failure(error)

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The one model thread: user models are not assumed thread-safe, and the event loop
        stays free to accept requests while the model computes. The model is also loaded
        on it, so objects a model binds to its thread at load time work when it predicts."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nervosum-model")
        return self._executor

    def start(self) -> None:
        """App startup: start the prediction log's writers; load the model in the
        background unless it was given loaded."""
        spec = self.project.config.logging
        if spec is not None and self.predlog is None:
            self.predlog = PredictionLog(
                spec,
                on_drop=self.metrics.predlog.dropped,
                on_write=self.metrics.predlog.written,
            )
        if self.batcher is not None:
            self.batcher.reopen(self.executor)
        if self._engine is None:
            self.executor.submit(self._load)

    async def load(self) -> None:
        """Load the model on the model thread and wait for it, raising what the load
        raised (the multi-model server loads its models one at a time so); then
        :meth:`start` finds it loaded."""
        await self.run_model(self._load_engine)

    def _load_engine(self) -> None:
        # Each worker loads its own (--no-preload): they share the cores all the same.
        threads = serving_threads(self.settings.worker_count)
        engine = Engine.load(self.project, debug=self.debug, threads=threads)
        log.info(
            "model %s (%s) loaded in %.2fs",
            engine.handle.label,
            engine.handle.identity.uuid,
            engine.handle.load_seconds,
        )
        self._set_ready(engine)

    def _load(self) -> None:
        """The background load of :meth:`start`: failures are kept and reported."""
        try:
            self._load_engine()
        except BaseException as exc:
            self.load_error = exc
            if isinstance(exc, NervosumError):
                log.error("model failed to load: %s", exc)
            else:
                log.exception("model failed to load")
            if self.on_load_failure is not None:
                self.on_load_failure(exc)
            return
        if self.on_loaded is not None:
            self.on_loaded()

    def require_engine(self) -> Engine:
        """The engine, or the 503 that says why there is none to answer now."""
        engine = self._engine
        if engine is None:
            reason = "failed to load" if self.load_error else "is still loading"
            raise NotReadyError(f"model {self.project.config.name} {reason}")
        engine.require_running()
        return engine

    async def run_model(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` on the model thread, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: func(*args, **kwargs))

    async def infer(self, records: list[Record], *, proba: bool) -> list[Record]:
        """Predict ``records`` (batched when enabled), within ``server.timeout``; the
        request's exchange keeps both for the prediction log."""
        check_row_count(len(records), self.settings.max_rows)
        engine = self.require_engine()
        exchange = current_exchange()
        if exchange is not None:
            exchange.inputs = records
        try:
            if self.batcher is not None:  # it bounds every request's wait itself
                alone = exchange is not None and exchange.alone
                outputs = await self.batcher.submit(records, proba=proba, alone=alone)
            else:
                # asyncio.timeout, not wait_for: no extra task per request.
                async with asyncio.timeout(self.settings.timeout):
                    outputs = await self._unbatched(engine, records, proba)
        except TimeoutError:
            raise self._timed_out() from None
        if exchange is not None:
            exchange.outputs = outputs
        return outputs

    async def transform(self, records: list[Record]) -> Record:
        """One ``transform_predict`` call on all of ``records`` (the seed routes of the
        multi-model server), on the model thread, within ``server.timeout``."""
        check_row_count(len(records), self.settings.max_rows)
        engine = self.require_engine()
        exchange = current_exchange()
        if exchange is not None:  # one answer: logged as one row holding every input
            exchange.inputs = records if len(records) == 1 else [{"variables": records}]

        try:
            async with asyncio.timeout(self.settings.timeout):
                (answer,) = await self.run_model(
                    self._observed, lambda: [engine.transform(records)]
                )
        except TimeoutError:
            raise self._timed_out() from None
        if exchange is not None:
            exchange.outputs = [answer]
        return answer

    def _timed_out(self) -> RequestTimeoutError:
        """The 504 of a request the model did not answer within ``server.timeout``."""
        return RequestTimeoutError(
            f"no answer from the model within {self.settings.timeout:g}s",
            hint="raise server.timeout (--timeout) or send fewer rows per request",
        )

    async def _unbatched(self, engine: Engine, records: list[Record], proba: bool) -> list[Record]:
        refuse_when_full(self._unbatched_rows, len(records), self.project.config.batching.max_queue)
        self._unbatched_rows += len(records)
        try:
            return await self.run_model(
                self._observed, lambda: engine.predict(records, proba=proba)
            )
        finally:
            self._unbatched_rows -= len(records)

    def _observed(self, call: Callable[[], list[Record]]) -> list[Record]:
        """A model call on the model thread, timed and counted in the prediction metrics."""
        started = time.perf_counter()
        try:
            outputs = call()
        except NervosumError:
            self.metrics.predictions.observe([], time.perf_counter() - started)
            raise
        self.metrics.predictions.observe([outputs], time.perf_counter() - started)
        return outputs

    def _origin_of(self, engine: Engine) -> Origin:
        if self._origin is None:
            identity = engine.handle.identity
            config = self.project.config
            self._origin = Origin(config.name, config.tag, identity.uuid, identity.created)
        return self._origin

    def log_exchange(
        self, exchange: Exchange, failure: NervosumError | None, scope: MutableMapping[str, Any]
    ) -> None:
        """Remember its predictions for feedback; hand it to the prediction log (also
        while a model process restarts: its 503s are logged like any failure)."""
        engine = self._engine
        if engine is None:
            return
        if failure is None and exchange.outputs is not None:
            ids = prediction_ids(exchange, engine.id_field)
            self.metrics.feedback.remember(ids, exchange.outputs, engine.id_field)
        if self.predlog is None:
            return
        origin = self._origin_of(engine)
        spec = self.predlog.spec
        if failure is None and exchange.outputs is not None:
            records = prediction_records(
                origin,
                exchange,
                id_field=engine.id_field,
                keep_best=spec.n_best,
                log_inputs=spec.inputs,
            )
        else:
            failure = failure or NervosumError("the request got no prediction")
            sent = exchange.inputs if exchange.inputs is not None else scope.get("nervosum.body")
            records = [failure_record(origin, exchange, failure, sent, log_inputs=spec.inputs)]
        self.predlog.emit(records)

    def feedback(self, items: list[Record]) -> dict[str, Any]:
        """Grade remembered predictions and log the labels next to them."""
        matched = self.metrics.feedback.labelled(items)
        if self.predlog is not None:
            self.predlog.emit(feedback_records(self.project.config.name, items))
        return {"received": len(items), "matched": matched, "logged": self.predlog is not None}

    async def shutdown(self) -> None:
        """Answer everything queued, flush the prediction log, release the model thread."""
        if self.batcher is not None:
            await self.batcher.drain()
        if self.predlog is not None:
            await asyncio.to_thread(self.predlog.close)
            self.predlog = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
