"""Ground truth against what this server predicted: rolling accuracy or mean absolute
error over the last ``metrics.feedback_window`` labelled predictions, in ``/metrics``.

The server remembers the predicted value of its most recent predictions by ``id`` (a
bounded map: old ones are forgotten). A label for a remembered id is compared with the
prediction: equal or not for classes, the absolute difference for numbers. A label for
an id it never saw (forgotten, or predicted by another worker) is counted as unmatched.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from nervosum.config.types import Record
from nervosum.errors import InputValidationError, RequestError
from nervosum.model.outputs import PROBABILITIES, predicted_value

_EPSILON = 1e-15  # a probability of 0 for the true class costs -log(1e-15), as scikit-learn clips
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


class Graded(NamedTuple):
    """One labelled prediction: its score (1/0 correct, or the absolute error), and for
    classifiers that answered probabilities the true class's probability and, with two
    classes, the second class's probability and whether the label is that class."""

    score: float
    truth: float | None = None
    positive: tuple[float, bool] | None = None

    @property
    def log_loss(self) -> float | None:
        """This row's log loss: minus the log of the true class's probability (None
        without probabilities)."""
        return None if self.truth is None else -math.log(min(max(self.truth, _EPSILON), 1.0))


def _auc(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """The area under the ROC curve of (score, is positive) pairs: the chance a positive
    scores above a negative, ties counting half (Mann-Whitney's U over both counts)."""
    ranked = sorted(pairs)
    positives = sum(1 for _, positive in ranked if positive)
    negatives = len(ranked) - positives
    if not positives or not negatives:
        return None
    rank_sum, start = 0.0, 0
    while start < len(ranked):
        end = start
        while end < len(ranked) and ranked[end][0] == ranked[start][0]:
            end += 1
        mean_rank = (start + 1 + end) / 2  # ties share the mean of their ranks
        rank_sum += mean_rank * sum(1 for _, positive in ranked[start:end] if positive)
        start = end
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


class FeedbackTracker:
    """Remembers recent predictions by id and grades the labels that arrive for them."""

    def __init__(self, registry: CollectorRegistry, prefix: str, model: str, window: int) -> None:
        # By id, oldest first: the predicted value and, for classifiers, its probabilities.
        self._predicted: OrderedDict[str, tuple[Any, dict[str, float] | None]] = OrderedDict()
        self._scores: deque[Graded] = deque(maxlen=window)
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
        """The predicted value (first output, after the echoed id) of each id, and its
        class probabilities when it has them (log loss and AUC come from them)."""
        predicted = self._predicted
        with self._lock:
            for ident, output in zip(ids, outputs, strict=False):
                key = str(ident)
                if key in predicted:  # a repeated id becomes the newest
                    del predicted[key]
                probabilities = output.get(PROBABILITIES)
                chances = probabilities if isinstance(probabilities, dict) else None
                predicted[key] = (predicted_value(output, id_field), chances)
            while len(predicted) > REMEMBERED:
                predicted.popitem(last=False)  # O(1); a dict's first key is not

    def labelled(self, items: Sequence[Record]) -> int:
        """Grade the remembered predictions; how many items matched one."""
        return sum(graded is not None for graded in self.grades(items))

    def grades(self, items: Sequence[Record]) -> list[Graded | None]:
        """Grade the remembered predictions: each item's grade, None for a label of an
        id this server does not remember (a promotion rule pairs two arms' grades)."""
        found: list[Graded | None] = []
        with self._lock:
            for item in items:
                key = str(item["id"])
                if key not in self._predicted:
                    found.append(None)
                    continue
                (predicted, chances), label = self._predicted[key], item["label"]
                if self.kind is None:
                    both = _number(predicted) and _number(label)
                    self.kind = "regression" if both and isinstance(predicted, float) else "classes"
                if self.kind == "regression" and _number(predicted) and _number(label):
                    graded = Graded(abs(float(predicted) - float(label)))
                else:
                    graded = _graded_class(predicted, chances, str(label))
                self._scores.append(graded)
                found.append(graded)
            matched = len(items) - found.count(None)
            self.graded += matched
            if self._scores:
                mean = sum(g.score for g in self._scores) / len(self._scores)
                (self.mae if self.kind == "regression" else self.accuracy).set(mean)
        self.labels.labels(self.model, "true").inc(matched)
        self.labels.labels(self.model, "false").inc(len(items) - matched)
        return found

    def quality(self) -> dict[str, Any]:
        """The live figures over the last ``feedback_window`` labelled predictions (None
        before the first label, or without what a figure needs): accuracy, and with
        probabilities log loss and (two classes) AUC, for classes; MAE and RMSE for
        numbers; and how many labels matched since the start."""
        with self._lock:
            graded = list(self._scores)
        count = len(graded)
        mean = sum(g.score for g in graded) / count if count else None
        if self.kind == "regression":
            rmse = math.sqrt(sum(g.score**2 for g in graded) / count) if count else None
            return {"labels": self.graded, "mae": mean, "rmse": rmse}
        log_loss = None
        losses = [g.log_loss for g in graded]
        if count and all(loss is not None for loss in losses):
            log_loss = sum(loss for loss in losses if loss is not None) / count
        pairs = [g.positive for g in graded if g.positive is not None]
        auc = _auc(pairs) if count and len(pairs) == count else None
        return {"labels": self.graded, "accuracy": mean, "log_loss": log_loss, "auc": auc}


def _graded_class(predicted: Any, chances: dict[str, float] | None, label: str) -> Graded:
    """A classifier's labelled prediction; with two classes the second is the positive
    one, as scikit-learn orders ``classes_``."""
    correct = 1.0 if str(predicted) == label else 0.0
    if chances is None:
        return Graded(correct)
    by_name = {str(name): float(chance) for name, chance in chances.items()}
    classes = list(by_name)
    # A label none of the classes names (1.0 against "1") has no probability: log loss
    # is then not known for the window, as scikit-learn refuses such a label.
    truth = by_name.get(label)
    positive = None
    if len(classes) == 2:
        positive = (by_name[classes[1]], label == classes[1])
    return Graded(correct, truth, positive)
