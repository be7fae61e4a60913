"""A stream worker's live drift: the HTTP server's :class:`LiveDrift` window and
:class:`DriftMetrics` gauges, fed from the messages the worker answered.

The message path only appends each answered message's records and outputs to the
window (:meth:`StreamDrift.observe`); :meth:`StreamDrift.keep_refreshed`, a task beside
the worker on the same event loop (so nothing else touches the window meanwhile), bins
them and writes the gauges about once a second, as the HTTP server's metrics sampler
does (docs/monitoring.md, "Live drift").
"""

from __future__ import annotations

import asyncio
import logging

from nervosum.config.types import Record
from nervosum.drift.live import LiveDrift
from nervosum.engine import Engine
from nervosum.observe.metrics import SAMPLE_SECONDS, DriftMetrics
from nervosum.predict.runtime import ModelRuntime

log = logging.getLogger("nervosum.stream")


class StreamDrift:
    """One worker's window against its reference profile, and the gauges it writes."""

    def __init__(self, live: LiveDrift, gauges: DriftMetrics) -> None:
        self.live: LiveDrift | None = live
        self.gauges = gauges

    def start(self, runtime: ModelRuntime, engine: Engine) -> None:
        """Read the bundle's profile, or make one from the reference in the background;
        the reference's predictions go through the model thread, between batches, as
        the messages' do (the model is not assumed thread-safe)."""
        assert self.live is not None

        def predict(records: list[Record]) -> list[Record]:
            return runtime.executor.submit(engine.predict, records, proba=False).result()

        self.live.start(engine, predict)

    def observe(self, records: list[Record], outputs: list[Record]) -> None:
        """The message path's only work: keep an answered message's rows."""
        if self.live is not None:
            self.live.observe(records, outputs)

    def refresh(self) -> None:
        """New figures, when there are, to the gauges. A failure turns live drift off
        (logged) rather than stopping the worker: drift is a report, not the service."""
        if self.live is None:
            return
        try:
            report = self.live.refresh()
            if report is not None:
                self.gauges.publish(report)
        except Exception:
            log.exception("live drift is off: its window failed")
            self.live = None
            self.gauges.clear()

    async def keep_refreshed(self) -> None:
        """Refresh every :data:`SAMPLE_SECONDS` until cancelled; the window itself
        recomputes at most once a second, and only when rows arrived or aged out of a
        time window (``monitoring.window: 10m``), so a quiet worker's window empties too."""
        while True:
            self.refresh()
            await asyncio.sleep(SAMPLE_SECONDS)
