"""Ground truth against what this server predicted: rolling accuracy or mean absolute
error over the last ``metrics.feedback_window`` labelled predictions, in ``/metrics``.

The server remembers the predicted value of its most recent predictions by ``id`` (a
bounded map: old ones are forgotten). A label for a remembered id is compared with the
prediction: equal or not for classes, the absolute difference for numbers. A label for
an id it never saw (forgotten, or predicted by another worker) is counted as unmatched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from nervosum.config.types import Record
from nervosum.errors import InputValidationError, RequestError
from nervosum.model.outputs import PROBABILITIES

REMEMBERED = 100_000  # most recent predictions kept for matching; older ones are forgotten


def parse_feedback(body: bytes) -> list[Record]:
    """``{"id": ..., "label": ...}`` or a list of them; 422 naming what is missing."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None
    items = value if isinstance(value, list) else [value]
    details = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            details.append({"loc": [index], "msg": "must be an object with id and label"})
            continue
        details.extend(
            {"loc": [index, key], "msg": "field required", "type": "missing"}
            for key in ("id", "label")
            if key not in item or item[key] is None
        )
    if details or not items:
        raise InputValidationError(
            "feedback needs an id and a label per item",
            hint='send {"id": "<prediction id>", "label": <true value>} or a list of them',
            details=details,
        )
    return [{"id": item["id"], "label": item["label"]} for item in items]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def predicted_value(output: Record, id_field: str | None) -> Any:
    """The prediction in ``output``: its first value that is not the echoed id or the
    probabilities (what a label grades, and what two models agree on or not)."""
    for key in output:
        if key not in (PROBABILITIES, id_field):
            return output[key]
    return None


class FeedbackTracker:
    """Remembers recent predictions by id and grades the labels that arrive for them."""

    def __init__(self, registry: CollectorRegistry, prefix: str, model: str, window: int) -> None:
        self._predicted: OrderedDict[str, Any] = OrderedDict()  # oldest first
        self._scores: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.kind: str | None = None
        self.graded = 0  # labels that matched a prediction, since the start
        self.labels = Counter(
            f"{prefix}_feedback_labels",
            "Labels received, by whether this server had made the prediction they grade.",
            ["model", "matched"],
            registry=registry,
        )
        self.accuracy = Gauge(
            f"{prefix}_feedback_accuracy",
            "Share of correct predictions among the last labelled ones (classifiers).",
            ["model"],
            multiprocess_mode="liveall",
            registry=registry,
        ).labels(model)
        self.mae = Gauge(
            f"{prefix}_feedback_mae",
            "Mean absolute error over the last labelled predictions (regressors).",
            ["model"],
            multiprocess_mode="liveall",
            registry=registry,
        ).labels(model)
        self.model = model

    def remember(self, ids: Sequence[Any], outputs: Sequence[Record], id_field: str | None) -> None:
        """The predicted value (first output, after the echoed id) of each id."""
        predicted = self._predicted
        with self._lock:
            for ident, output in zip(ids, outputs, strict=False):
                key = str(ident)
                if key in predicted:  # a repeated id becomes the newest
                    del predicted[key]
                predicted[key] = predicted_value(output, id_field)
            while len(predicted) > REMEMBERED:
                predicted.popitem(last=False)  # O(1); a dict's first key is not

    def labelled(self, items: Sequence[Record]) -> int:
        """Grade the remembered predictions; how many items matched one."""
        matched = 0
        with self._lock:
            for item in items:
                key = str(item["id"])
                if key not in self._predicted:
                    continue
                matched += 1
                predicted, label = self._predicted[key], item["label"]
                if self.kind is None:
                    both = _number(predicted) and _number(label)
                    self.kind = "regression" if both and isinstance(predicted, float) else "classes"
                if self.kind == "regression" and _number(predicted) and _number(label):
                    self._scores.append(abs(float(predicted) - float(label)))
                else:
                    self._scores.append(1.0 if str(predicted) == str(label) else 0.0)
            self.graded += matched
            if self._scores:
                mean = sum(self._scores) / len(self._scores)
                (self.mae if self.kind == "regression" else self.accuracy).set(mean)
        self.labels.labels(self.model, "true").inc(matched)
        self.labels.labels(self.model, "false").inc(len(items) - matched)
        return matched

    def quality(self) -> dict[str, Any]:
        """The live figures: labelled predictions, and accuracy (classes) or MAE (numbers)
        over the last ``feedback_window`` of them (None before the first label)."""
        with self._lock:
            mean = sum(self._scores) / len(self._scores) if self._scores else None
            figure = "mae" if self.kind == "regression" else "accuracy"
            return {"labels": self.graded, figure: mean}
