"""What a running HTTP app knows: its project, its engine once loaded, and its metrics.

The model loads in a background thread so the process answers ``/health/live`` at once
and ``/health/ready`` (503) until the model is there: Kubernetes then never kills a pod
for a slow load, and clients get a clear "not ready" instead of a refused connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from nervosum.config import Project
from nervosum.engine import Engine
from nervosum.errors import NervosumError, NotReadyError
from nervosum.observe.metrics import HttpMetrics

log = logging.getLogger("nervosum.serving")

T = TypeVar("T")


class ServingState:
    """Shared by every request of one app."""

    def __init__(
        self,
        project: Project,
        *,
        engine: Engine | None = None,
        debug: bool = False,
        max_body_size: int | None = None,
        on_load_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.project = project
        self.debug = debug
        config = project.config
        self.max_body_size = max_body_size or config.server.max_body_size
        self.expose_details = config.errors.expose_details
        self.metrics = HttpMetrics(config.name)
        self.on_load_failure = on_load_failure
        self.load_error: BaseException | None = None
        self.openapi: dict[str, Any] | None = None
        # One model thread: user models are not assumed thread-safe, and the event loop
        # stays free to accept and validate requests while the model computes.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nervosum-model")
        self.engine: Engine | None = None
        if engine is not None:
            self._set_ready(engine)

    def _set_ready(self, engine: Engine) -> None:
        self.engine = engine
        self.metrics.ready.labels(self.metrics.model).set(1)

    def start_loading(self) -> None:
        """Load the model in a background thread, unless it was given already loaded."""
        if self.engine is None:
            threading.Thread(target=self._load, name="nervosum-load", daemon=True).start()

    def _load(self) -> None:
        try:
            engine = Engine.load(self.project, debug=self.debug)
        except BaseException as exc:
            self.load_error = exc
            if isinstance(exc, NervosumError):
                log.error("model failed to load: %s", exc)
            else:
                log.exception("model failed to load")
            if self.on_load_failure is not None:
                self.on_load_failure(exc)
            return
        log.info(
            "model %s (%s) loaded in %.2fs",
            engine.handle.label,
            engine.handle.identity.uuid,
            engine.handle.load_seconds,
        )
        self._set_ready(engine)

    def require_engine(self) -> Engine:
        if self.engine is None:
            reason = "failed to load" if self.load_error else "is still loading"
            raise NotReadyError(f"model {self.project.config.name} {reason}")
        return self.engine

    async def run_model(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` on the model thread, keeping the event loop free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: func(*args, **kwargs))
