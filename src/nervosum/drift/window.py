"""A server's rolling window of served rows, binned against a reference profile.

The request path only appends each answered request's records and outputs to a bounded
queue (:meth:`DriftWindow.observe`: one ``deque.append``). :meth:`DriftWindow.refresh`,
called by the metrics sampler, at most once per :data:`REFRESH_SECONDS`, takes what
arrived, bins it with numpy into per-column rings of the latest ``size`` rows' bin codes,
and recomputes each column's PSI from the rings' counts. A time window (``seconds``) also
stamps what arrived with the refresh's time, in a ring beside the codes, and forgets the
rows older than ``seconds`` at each refresh, traffic or not: the request path stays one
append. Each worker process keeps its own window (docs/monitoring.md).
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import pandas as pd

from nervosum.config.types import Record
from nervosum.drift.profile import Distribution, Profile
from nervosum.drift.psi import level, psi, shares

REFRESH_SECONDS = 1.0
# Values of a column a window needs before its PSI means anything: the PSI of 20 rows
# drawn from the reference itself is about 1 (50 rows: 0.17), so a quiet worker's
# window would read as major drift and fire its alert.
LEAST_ROWS = 500


class _Ring:
    """One column's latest bin codes and flags (out of range, unseen)."""

    def __init__(self, distribution: Distribution, size: int) -> None:
        self.distribution = distribution
        self.codes = np.full(size, distribution.missing, dtype=np.int16)
        self.flags = np.zeros(size, dtype=bool)

    def write(self, places: np.ndarray, values: pd.Series) -> None:
        self.codes[places], self.flags[places] = self.distribution.bins(values)

    def forget(self, places: np.ndarray) -> None:
        """Leave ``places`` as a row without this column: no count, no flag."""
        self.codes[places], self.flags[places] = self.distribution.missing, False

    def figures(self, used: int, least: int) -> Record:
        """PSI and the flagged share over the ring's first ``used`` places (the others were
        never written); the PSI is None while fewer than ``least`` of them hold a value
        of this column (the flagged share, None with none)."""
        distribution = self.distribution
        counts = np.bincount(self.codes[:used], minlength=distribution.missing + 1)
        present = int(counts[:-1].sum())
        if not present:
            return {"psi": None, "level": None, "flagged": None}
        flagged = float(self.flags[:used].sum()) / present
        if present < least:
            return {"psi": None, "level": None, "flagged": flagged}
        value = psi(distribution.shares, shares(counts[:-1]))
        return {"psi": value, "level": level(value), "flagged": flagged}


class DriftWindow:
    """The latest ``size`` served rows against ``profile``; with ``seconds``, only those
    of them answered within the latest ``seconds`` (``size`` bounds the memory)."""

    def __init__(self, profile: Profile, size: int, seconds: float | None = None) -> None:
        self.profile = profile
        self.size = size
        self.seconds = seconds
        # The rows (and their outputs) answered since the last refresh, up to ``intake``
        # (see _intake). Past it, requests keep nothing until the next refresh: at c=64
        # most keep nothing, and no request's rows outlive it (rows kept alive cost a
        # busy server more than the appends). Rows, not the requests' lists: a row of
        # plain values is a dict the garbage collector does not track, and a second's
        # worth of tracked lists made its collections cost a tenth of a request at c=64.
        self.intake = self._intake(REFRESH_SECONDS)
        self._rows: deque[Record] = deque(maxlen=size)
        self._outputs: deque[Record] = deque(maxlen=size)
        self._features = {name: _Ring(d, size) for name, d in profile.features.items()}
        prediction = profile.prediction
        self._prediction = _Ring(prediction, size) if prediction is not None else None
        # Each place's refresh time (what a time window ages by); inf where no row is.
        self._stamps = np.full(size, np.inf)
        self._next = 0
        self.filled = 0
        self._used = 0  # the places ever written: the rings' first ones
        self._refreshed = 0.0  # never
        self._report: Record = self._figures()

    def observe(self, records: list[Record], outputs: list[Record]) -> None:
        """The request path's only work: keep the request's records and outputs, while
        this refresh's intake is not full."""
        room = self.intake - len(self._rows)
        if room > 0:
            self._rows.extend(records[:room])
            self._outputs.extend(outputs[:room])

    def refresh(self, now: float | None = None) -> Record | None:
        """Bin what arrived, forget what aged out of a time window, and recompute the
        figures, when :data:`REFRESH_SECONDS` have passed and rows arrived or aged out;
        the new report, else None."""
        now = time.monotonic() if now is None else now
        if now - self._refreshed < REFRESH_SECONDS:
            return None
        first = not self._refreshed
        gap = REFRESH_SECONDS if first else now - self._refreshed
        self._refreshed = now
        aged = self._aged(now)
        if not first and not self._rows and not aged.size:
            return None  # the first refresh reports the empty window: the gauges exist
        records, outputs = list(self._rows), list(self._outputs)
        self._rows.clear()
        self._outputs.clear()
        self._forget(aged)
        self._write(records, outputs, now)
        self.intake = self._intake(gap)
        self._report = self._figures()
        return self._report

    def _intake(self, gap: float) -> int:
        """The rows the next refresh takes, expecting it ``gap`` seconds after this one.
        A window of rows needs its ``size`` (more would be written over). A time window
        takes its share of ``size`` for that time, so rows enter at the rate they leave
        and the ones it keeps spread evenly over its span, from the first refresh on
        (its PSI waits for 500 of them, as a young window's does)."""
        if self.seconds is None:
            return self.size
        return max(1, math.ceil(self.size * gap / self.seconds))

    @property
    def report(self) -> Record:
        """The figures as of the last refresh."""
        return self._report

    def _aged(self, now: float) -> np.ndarray:
        """The places of the rows kept longer than a time window (none for rows)."""
        if self.seconds is None or not self.filled:
            return np.empty(0, dtype=np.intp)
        since = now - self.seconds
        if self._stamps[(self._next - self.filled) % self.size] > since:
            return np.empty(0, dtype=np.intp)  # the oldest row is in the window: all are
        return np.flatnonzero(self._stamps <= since)

    def _forget(self, places: np.ndarray) -> None:
        """Empty ``places`` (rows that aged out): no ring counts them any more."""
        for ring in self._features.values():
            ring.forget(places)
        if self._prediction is not None:
            self._prediction.forget(places)
        self._stamps[places] = np.inf
        self.filled -= places.size

    def _write(self, records: list[Record], outputs: list[Record], now: float) -> None:
        count = len(records)
        places = (self._next + np.arange(count)) % self.size
        frame = pd.DataFrame.from_records(records, columns=list(self._features))
        for name, ring in self._features.items():
            ring.write(places, frame[name])
        if self._prediction is not None and len(outputs) == count:
            field = self.profile.prediction_field
            self._prediction.write(places, pd.Series([o.get(field) for o in outputs]))
        self._stamps[places] = now
        self._next = (self._next + count) % self.size
        self.filled = min(self.filled + count, self.size)
        self._used = min(self._used + count, self.size)

    def _figures(self) -> Record:
        features = {}
        for name, ring in self._features.items():
            figures = ring.figures(self._used, min(LEAST_ROWS, self.size))
            flagged = figures.pop("flagged")
            numeric = ring.distribution.numeric
            figures["out_of_range" if numeric else "unseen"] = (
                flagged if numeric or ring.distribution.seen is not None else None
            )
            features[name] = figures
        prediction = None
        if self._prediction is not None:
            prediction = self._prediction.figures(self._used, min(LEAST_ROWS, self.size))
            del prediction["flagged"]
        return {
            "rows": self.filled,
            "window": self.size,
            "window_seconds": self.seconds,
            "features": features,
            "prediction": prediction,
        }
