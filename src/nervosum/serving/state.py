"""What a running HTTP app knows: its project, its engine once loaded, and its metrics.

The model loads in the background, so the process answers ``/health/live`` at once and
``/health/ready`` (503) until the model is there: Kubernetes then never kills a pod for
a slow load, and clients get a clear "not ready" instead of a refused connection.

Every protocol predicts through :meth:`ServingState.infer`; the model thread, batching,
backpressure, the timeout, the prediction metrics and the log's records are the
transport-free :class:`~nervosum.predict.runtime.ModelRuntime`'s, as for streams.
With a challenger served beside the model (``variants:``), ``infer`` hands the records to
:class:`~nervosum.serving.arms.Arms`, which picks the arm: every protocol is routed alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from nervosum.config import Project
from nervosum.config.spec import ServerSpec
from nervosum.config.types import Record
from nervosum.drift.background import attach_background
from nervosum.drift.live import LiveDrift
from nervosum.engine import Engine
from nervosum.errors import NervosumError, NotReadyError, RequestError
from nervosum.model.compile.threads import onnx_threads, serving_threads
from nervosum.model.imports import own_namespace
from nervosum.observe.metrics import HttpMetrics
from nervosum.predict.batcher import Batcher
from nervosum.predict.runtime import ModelRuntime
from nervosum.predlog.events import (
    Exchange,
    explanation_records,
    feedback_records,
    prediction_ids,
)
from nervosum.serving.body import check_row_count
from nervosum.serving.exchange import current as current_exchange
from nervosum.serving.model_process import RemoteEngine

if TYPE_CHECKING:
    from nervosum.serving.arms import Arms

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
        # A challenger beside this model (variants:, serving/arms.py), set by the app.
        self.arms: Arms | None = None
        self.runtime = ModelRuntime(
            project,
            self.metrics.predictions,
            self.metrics.predlog,
            runtime="http",
            timeout=settings.timeout,
            on_batch=self.metrics.batch_rows.observe,
        )
        # Live drift against monitoring.reference or the bundle's profile (drift/live.py):
        # a reference named but missing raises the config error here, before serving.
        # The metrics refresh it once this model serves (_set_ready): until then, or if
        # it never loads, the version serving now (serve-repo) keeps its window.
        self.drift = LiveDrift.for_project(project)
        if engine is not None:
            self._set_ready(engine)

    @property
    def batcher(self) -> Batcher | None:
        return self.runtime.batcher

    def _set_ready(self, engine: Engine) -> None:
        attach_background(engine)
        # An explanation holds the model thread anyway: it may use every core the
        # worker's share holds, the event loop's too (a compiled model's calls leave it).
        engine.explainer.threads = onnx_threads(self.settings.worker_count)
        self.runtime.serve(engine)
        batcher = self.runtime.batcher
        if batcher is not None:
            self.metrics.queued_rows = lambda: batcher.queued_rows
        if isinstance(engine, RemoteEngine):
            engine.when_lost(self._model_process_lost)
        self.metrics.drift_from(self._refresh_drift if self.drift is not None else None)
        if self.drift is not None:
            executor = self.runtime.executor

            def predict(records: list[Record]) -> list[Record]:
                return executor.submit(engine.predict, records, proba=False).result()

            self.drift.start(engine, predict)
            engine.drift_info = self.drift.info
        handle = engine.handle
        self.metrics.loaded(
            self.project.config.tag,
            handle.identity.uuid,
            handle.load_seconds,
            handle.runtime,
            handle.loaded.compile_info,
        )

    def _refresh_drift(self) -> None:
        """The metrics sampler's hook: new drift figures, when there are, to the gauges.
        A failure turns live drift off rather than stopping the sampler."""
        if self.drift is None:
            return
        try:
            report = self.drift.refresh()
            if report is not None:
                self.metrics.drift.publish(report)
        except Exception:
            log.exception("live drift is off: its window failed")
            self.drift = None
            self.metrics.drift_from(None)

    @property
    def engine(self) -> Engine | None:
        """The engine while it can answer: None while the model loads, after a failed load
        and while its model process is down, so every readiness route says not ready."""
        engine = self.runtime.engine
        return engine if engine is not None and engine.running else None

    @property
    def answering(self) -> ServingState:
        """The state whose model answers predictions now: beside a challenger, the
        champion's, which a promotion changes (readiness, /info and /schema follow it)."""
        return self.arms.champion.state if self.arms is not None else self

    def _model_process_lost(self, error: NervosumError) -> None:
        """The model process kept dying: the model is as lost as one that failed to load,
        so the server stops the same way (exit code 1)."""
        self.load_error = error
        if self.on_load_failure is not None:
            self.on_load_failure(error)

    def start(self) -> None:
        """App startup: start the prediction log's writers; load the model in the
        background (on the model thread) unless it was given loaded."""
        self.runtime.start()
        if self.runtime.engine is None:
            self.runtime.executor.submit(self._load)
        if self.arms is not None:
            self.arms.start()

    async def load(self) -> None:
        """Load the model on the model thread and wait for it, raising what the load
        raised (the multi-model server loads its models one at a time so); then
        :meth:`start` finds it loaded."""
        await self.runtime.run(self._load_engine)

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
        """The background load of :meth:`start`: failures are kept and reported. Beside
        a challenger, the model imports its folder's modules in a namespace of its own
        (as the challenger does), so two folders' ``model.py`` never meet."""
        try:
            if self.arms is None:
                self._load_engine()
            else:
                project = self.project
                with own_namespace(project.project_dir, project.src_dir):
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

    def answering_model(self) -> tuple[str, str]:
        """The name and version of the model that answered the current request: beside
        a challenger, the arm it fell on (protocols name it in their answers)."""
        exchange = current_exchange()
        origin = exchange.origin if exchange is not None else None
        if origin is not None:
            return origin.model, origin.tag
        return self.project.config.name, self.project.config.tag

    def require_engine(self) -> Engine:
        """The engine, or the 503 that says why there is none to answer now."""
        engine = self.runtime.engine
        if engine is None:
            reason = "failed to load" if self.load_error else "is still loading"
            raise NotReadyError(f"model {self.project.config.name} {reason}")
        engine.require_running()
        return engine

    async def infer(self, records: list[Record], *, proba: bool) -> list[Record]:
        """Predict ``records`` (batched when enabled), within ``server.timeout``; the
        request's exchange keeps both for the prediction log."""
        check_row_count(len(records), self.settings.max_rows)
        self.require_engine()  # the 503 while there is none
        exchange = current_exchange()
        if exchange is not None:
            exchange.inputs = records
        if self.arms is not None:
            outputs = await self.arms.infer(records, proba=proba, exchange=exchange)
        else:
            outputs = await self.predict(records, proba=proba, exchange=exchange)
        if exchange is not None:
            exchange.outputs = outputs
        if self.arms is None:  # beside a challenger, each arm keeps what it answered
            self.observe(records, outputs)
        return outputs

    def sampled_metrics(self) -> list[HttpMetrics]:
        """The metrics the sampler writes (and lets refresh live drift): this model's and,
        beside a challenger, the challenger's (its window serves /info after a promotion)."""
        if self.arms is None:
            return [self.metrics]
        return [arm.state.metrics for arm in (self.arms.champion, self.arms.challenger)]

    def observe(self, records: list[Record], outputs: list[Record]) -> None:
        """Keep an answered request for live drift (nothing without a reference)."""
        if self.drift is not None:
            self.drift.observe(records, outputs)

    def predict(
        self, records: list[Record], *, proba: bool, exchange: Exchange | None
    ) -> Awaitable[list[Record]]:
        """This model's outputs for validated ``records`` (the request's ``exchange``
        says how its front end hands them over); :meth:`infer` and a champion's or
        challenger's arm call it."""
        alone = exchange is not None and exchange.alone
        staggered = exchange is not None and exchange.staggered
        return self.runtime.predict(records, proba=proba, alone=alone, staggered=staggered)

    async def explain(self, records: list[Record], *, which: str | None) -> Record:
        """Attributions of validated ``records`` by the model answering now (beside a
        challenger, the champion), metered, and logged as ``kind: explanation`` records
        when the prediction log is on (docs/monitoring.md)."""
        check_row_count(len(records), self.settings.max_rows)
        most = self.project.config.monitoring.explain_max_rows
        if len(records) > most:
            raise RequestError(
                f"{len(records)} rows to explain; at most {most} per request",
                hint="send fewer rows, or raise monitoring.explain_max_rows",
            )
        state = self.answering
        state.require_engine()  # the 503 while there is none
        started = time.perf_counter()
        answer = await state.runtime.explain(records, which=which)
        seconds = time.perf_counter() - started
        self.metrics.explained.observe(answer["method"], len(records), seconds)
        exchange = current_exchange()
        if exchange is not None and self.runtime.predlog is not None:
            exchange.inputs, exchange.outputs = records, answer["explanations"]
            origin = state.runtime.origin()
            id_field = self.project.config.id_field
            self.runtime.log(explanation_records(origin, exchange, answer, id_field=id_field))
        return answer

    async def transform(self, records: list[Record]) -> Record:
        """One ``transform_predict`` call on all of ``records`` (the seed routes of the
        multi-model server), on the model thread, within ``server.timeout``."""
        check_row_count(len(records), self.settings.max_rows)
        self.require_engine()  # the 503 while there is none
        exchange = current_exchange()
        if exchange is not None:  # one answer: logged as one row holding every input
            exchange.inputs = records if len(records) == 1 else [{"variables": records}]
        answer = await self.runtime.transform(records)
        if exchange is not None:
            exchange.outputs = [answer]
        return answer

    def log_exchange(
        self, exchange: Exchange, failure: NervosumError | None, scope: MutableMapping[str, Any]
    ) -> None:
        """Remember its predictions for feedback; hand it to the prediction log (also
        while a model process restarts: its 503s are logged like any failure)."""
        engine = self.runtime.engine
        if engine is None:
            return
        if failure is None and self.arms is None:  # each arm remembers its own
            self.remember(exchange)
        if self.runtime.predlog is None:
            return
        if failure is None and exchange.outputs is not None:
            self.runtime.log(self.runtime.answered_records(exchange))
            return
        failure = failure or NervosumError("the request got no prediction")
        sent = exchange.inputs if exchange.inputs is not None else scope.get("nervosum.body")
        self.runtime.log(self.runtime.failed_records(exchange, failure, sent))

    def remember(self, exchange: Exchange) -> None:
        """Remember what this model answered to ``exchange``, by id, for feedback."""
        engine = self.runtime.engine
        if engine is not None and exchange.outputs is not None:
            ids = prediction_ids(exchange, engine.id_field)
            self.metrics.feedback.remember(ids, exchange.outputs, engine.id_field)

    def feedback(self, items: list[Record]) -> dict[str, Any]:
        """Grade remembered predictions (each arm's, with a challenger) and log the
        labels next to them."""
        answer: dict[str, Any] = {"received": len(items)}
        if self.arms is None:
            answer["matched"] = self.metrics.feedback.labelled(items)
        else:
            answer["arms"] = matched = self.arms.grade(items)
            answer["matched"] = matched["champion"]
        answer["logged"] = self.runtime.predlog is not None
        self.runtime.log(feedback_records(self.project.config.name, items))
        return answer

    async def shutdown(self) -> None:
        """Answer everything queued (the challenger's too), flush the prediction log,
        release the model thread."""
        if self.arms is not None:
            await self.arms.close()
        await self.runtime.close()
