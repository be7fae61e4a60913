"""Prediction metrics, as nachlass (seed 002) published them: what the model answers.

For a classifier, a counter per predicted class, ``<prefix>_predictions_total{value=...}``;
for a regressor, a histogram of the predicted value, ``<prefix>_predictions_bucket`` /
``_sum`` / ``_count``; and ``<prefix>_processing_seconds`` for every model call. The
prediction is the model's first output (``prediction`` or the first ``output_schema``
field).

The kind follows ``metrics.predictions``; ``auto`` reads the model (known classes) and the
output schema's type (text, bool, int -> classes; float -> histogram), and without either
the first value answered. Label values are bounded: a model with known classes counts
any other value as ``other``, and one without counts its first ``metrics.max_classes``
distinct values, then ``other``.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from nervosum.config.spec import MetricsSpec
from nervosum.config.types import Record
from nervosum.jsonio import dumps
from nervosum.model.outputs import PROBABILITIES

if TYPE_CHECKING:
    from nervosum.engine import Engine

PROCESSING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
OTHER = "other"
_DISCRETE_TYPES = {"str": "classes", "bool": "classes", "int": "classes", "float": "histogram"}


def _label(value: Any) -> str:
    """A predicted value as a label; one JSON cannot hold (an integer past 64 bits) as text."""
    if isinstance(value, str):
        return value
    try:
        return dumps(value).decode()
    except TypeError:
        return str(value)


class PredictionMetrics:
    """The prediction and processing-time metrics of one model."""

    def __init__(
        self, registry: CollectorRegistry, prefix: str, model: str, spec: MetricsSpec
    ) -> None:
        self.registry = registry
        self.prefix = prefix
        self.model = model
        self.spec = spec
        self.kind: str | None = None if spec.predictions == "auto" else spec.predictions
        self.field: str | None = None
        self.classes: frozenset[str] | None = None
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._counter: Counter | None = None
        self._children: dict[str, Any] = {}  # each counted value's child counter
        self._histogram: Histogram | None = None
        self.processing = Histogram(
            f"{prefix}_processing_seconds",
            "Time of each model call (a merged batch is one call).",
            ["model"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        ).labels(model)

    def describe_engine(self, engine: Engine) -> None:
        """:meth:`describe_model` from a loaded engine and its output schema."""
        handle = engine.handle
        outputs = engine.project.config.output_schema
        self.describe_model(
            handle.classes, handle.output_names[0], outputs[0].type if outputs else None
        )

    def describe_model(
        self, classes: Sequence[str] | None, output_field: str, output_type: str | None
    ) -> None:
        """What is known before the first answer: the classes, the output and its type."""
        self.field = output_field
        self.classes = frozenset(str(c) for c in classes) if classes else None
        # Then forget the counters and labels chosen under a version this one replaces
        # (serve-repo keeps a model's metrics across versions).
        self._children.clear()
        with self._lock:
            self._seen.clear()
        if self.kind is None and self.classes:
            self.kind = "classes"
        elif self.kind is None and output_type in _DISCRETE_TYPES:
            self.kind = _DISCRETE_TYPES[output_type]

    def observe(self, answers: Iterable[Sequence[Record] | BaseException], seconds: float) -> None:
        """One model call: its time, and the predicted value of every answered record."""
        self.processing.observe(seconds)
        if self.kind == "off":
            return
        values = [
            record.get(self._field_of(record))
            for answer in answers
            if not isinstance(answer, BaseException)
            for record in answer
        ]
        values = [v for v in values if v is not None]
        if not values:
            return
        if self.kind is None:
            first = values[0]
            numeric = isinstance(first, float) and not isinstance(first, bool)
            self.kind = "histogram" if numeric else "classes"
        if self.kind == "histogram":
            self._observe_values(values)
        else:
            self._count_classes(values)

    def _field_of(self, record: Record) -> str:
        if self.field is None:
            self.field = next((k for k in record if k != PROBABILITIES), "prediction")
        return self.field

    def _count_classes(self, values: list[Any]) -> None:
        if self._counter is None:
            self._counter = Counter(
                f"{self.prefix}_predictions",
                "Predictions answered, by predicted class.",
                ["model", "value"],
                registry=self.registry,
            )
        for value, count in Tally(_label(v) for v in values).items():
            child = self._children.get(value)
            if child is None:
                child = self._counter.labels(self.model, self._bounded(value))
                if len(self._children) < self.spec.max_classes + 1:
                    self._children[value] = child
            child.inc(count)

    def _bounded(self, value: str) -> str:
        if self.classes is not None:
            return value if value in self.classes else OTHER
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.spec.max_classes:
                self._seen.add(value)
                return value
        return OTHER

    def _observe_values(self, values: list[Any]) -> None:
        if self._histogram is None:
            buckets = self.spec.buckets or Histogram.DEFAULT_BUCKETS
            self._histogram = Histogram(
                f"{self.prefix}_predictions",
                "Predicted values.",
                ["model"],
                buckets=buckets,
                registry=self.registry,
            )
        child = self._histogram.labels(self.model)
        for value in values:
            if isinstance(value, int | float) and not isinstance(value, bool):
                child.observe(float(value))
