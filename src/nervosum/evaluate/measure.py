"""Join logged predictions with their ground truth and measure them.

Labels come from a file (CSV, JSON Lines or Parquet, ``--id-field`` / ``--label-field``)
or, without one, from the ``feedback`` records in the log itself (the latest label of an
id wins). Classifications get accuracy, macro and per-class precision / recall / F1, the
confusion matrix and, when the log holds every class's probability, ROC AUC, log loss
and a calibration table; regressions get MAE, RMSE and R2. Both get coverage (labelled
share of predictions) and a per-day trend. scikit-learn computes the figures, so they
are the ones a data scientist would compute by hand.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nervosum.config.types import Record
from nervosum.errors import RequestError
from nervosum.predlog.events import FEEDBACK, PREDICTION

CALIBRATION_BINS = 10


@dataclass
class Joined:
    """Labelled predictions, one entry per prediction, in log order."""

    ids: list[str] = field(default_factory=list)
    predicted: list[Any] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    probabilities: list[dict[str, float] | None] = field(default_factory=list)


@dataclass
class Population:
    """What the log holds before the join: answered predictions and failed requests."""

    predictions: list[Record]
    failed: int
    feedback: dict[str, Any]


def split_log(records: Sequence[Record]) -> Population:
    predictions = [r for r in records if r.get("kind", PREDICTION) == PREDICTION]
    answered = [r for r in predictions if r.get("status") == "ok"]
    feedback = {str(r["id"]): r.get("label") for r in records if r.get("kind") == FEEDBACK}
    return Population(answered, len(predictions) - len(answered), feedback)


def read_labels(path: Path, id_field: str, label_field: str) -> dict[str, Any]:
    """``{id: label}`` from a CSV, JSON Lines or Parquet file."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise RequestError(f"no labels file at {path}")
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix in (".jsonl", ".ndjson"):
        frame = pd.read_json(path, lines=True, dtype=False)
    else:
        frame = pd.read_csv(path, dtype={id_field: str}, keep_default_na=False)
    missing = [name for name in (id_field, label_field) if name not in frame.columns]
    if missing:
        raise RequestError(
            f"{path} has no column {', '.join(map(repr, missing))}",
            hint=f"its columns: {', '.join(map(str, frame.columns))};"
            " choose with --id-field / --label-field",
        )
    return dict(zip(frame[id_field].astype(str), frame[label_field].tolist(), strict=True))


def _predicted(record: Record) -> Any:
    outputs = record.get("outputs") or {}
    return next(iter(outputs.values()), None) if isinstance(outputs, dict) else outputs


def join(population: Population, labels: dict[str, Any]) -> Joined:
    joined = Joined()
    for record in population.predictions:
        key = str(record.get("id"))
        if key not in labels or labels[key] is None or labels[key] == "":
            continue
        joined.ids.append(key)
        joined.predicted.append(_predicted(record))
        joined.labels.append(labels[key])
        joined.days.append(str(record.get("timestamp", ""))[:10] or "unknown")
        classes = record.get("classes")
        joined.probabilities.append(
            {str(c["class"]): float(c["probability"]) for c in classes} if classes else None
        )
    return joined


def _sklearn_metrics() -> Any:
    """scikit-learn's metrics module, or a clear error naming the extra to install."""
    try:
        from sklearn import metrics
    except ImportError:
        raise RequestError(
            "nervosum evaluate computes its figures with scikit-learn, which is not installed",
            hint="pip install 'nervosum[sklearn]'",
        ) from None
    return metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def infer_task(predicted: Sequence[Any]) -> str:
    """regression when the model answered numbers, floats among them (JSON keeps ``2.0``
    apart from ``2``); else classification (classes, integers, booleans)."""
    numbers = [p for p in predicted if _is_number(p)]
    if numbers and len(numbers) == len(predicted) and any(isinstance(p, float) for p in numbers):
        return "regression"
    return "classification"


def resolve_task(joined: Joined, task: str) -> str:
    """``task``, or for ``auto`` the one the labelled predictions' values say."""
    if task != "auto":
        return task
    return infer_task(joined.predicted) if joined.predicted else "classification"


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _classification(joined: Joined) -> dict[str, Any]:
    metrics = _sklearn_metrics()

    truth = [_text(v) for v in joined.labels]
    guess = [_text(v) for v in joined.predicted]
    classes = sorted(set(truth) | set(guess))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truth, guess, labels=classes, zero_division=0
    )
    result: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(truth, guess)),
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "f1_macro": float(np.mean(f1)),
        "per_class": {
            label: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": classes,
            "matrix": metrics.confusion_matrix(truth, guess, labels=classes).tolist(),
        },
        "roc_auc": None,
        "log_loss": None,
        "calibration": [],
    }
    result.update(_probability_scores(joined, truth))
    return result


def _probability_scores(joined: Joined, truth: list[str]) -> dict[str, Any]:
    """ROC AUC, log loss and calibration, when every record logged every class's
    probability (``logging.n_best`` at least the number of classes)."""
    metrics = _sklearn_metrics()

    maps = joined.probabilities
    if not maps or any(m is None for m in maps):
        return {}
    known = sorted(set().union(*(set(m) for m in maps if m)))
    if any(set(m or {}) != set(known) for m in maps) or not set(truth) <= set(known):
        return {}
    matrix = np.array([[m[c] for c in known] for m in maps if m is not None])
    scores: dict[str, Any] = {"log_loss": float(metrics.log_loss(truth, matrix, labels=known))}
    if len(set(truth)) > 1:
        if len(known) == 2:
            scores["roc_auc"] = float(metrics.roc_auc_score(truth, matrix[:, 1], labels=known))
        else:
            scores["roc_auc"] = float(
                metrics.roc_auc_score(truth, matrix, multi_class="ovr", labels=known)
            )
    confidence = matrix.max(axis=1)
    correct = np.array([known[i] == t for i, t in zip(matrix.argmax(axis=1), truth, strict=True)])
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    scores["calibration"] = [
        {
            "low": b / CALIBRATION_BINS,
            "high": (b + 1) / CALIBRATION_BINS,
            "confidence": float(confidence[bins == b].mean()),
            "accuracy": float(correct[bins == b].mean()),
            "count": int((bins == b).sum()),
        }
        for b in range(CALIBRATION_BINS)
        if (bins == b).any()
    ]
    return scores


def _floats(values: Sequence[Any], what: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in values])
    except (TypeError, ValueError):
        raise RequestError(
            f"a regression needs numeric {what}", hint="--task classification for classes"
        ) from None


def _regression(joined: Joined) -> dict[str, Any]:
    metrics = _sklearn_metrics()

    truth = _floats(joined.labels, "labels")
    guess = _floats(joined.predicted, "predictions")
    return {
        "mae": float(metrics.mean_absolute_error(truth, guess)),
        "rmse": float(math.sqrt(metrics.mean_squared_error(truth, guess))),
        "r2": float(metrics.r2_score(truth, guess)) if len(truth) > 1 else None,
    }


def hits(joined: Joined) -> list[bool]:
    """Whether each labelled prediction named its label's class."""
    return [_text(p) == _text(t) for p, t in zip(joined.predicted, joined.labels, strict=True)]


def absolute_errors(joined: Joined) -> np.ndarray:
    """How far each labelled prediction is from its label."""
    errors: np.ndarray = np.abs(
        _floats(joined.predicted, "predictions") - _floats(joined.labels, "labels")
    )
    return errors


def scores(joined: Joined, task: str) -> dict[str, Any]:
    """The figures of ``task`` for labelled predictions (at least one)."""
    return _classification(joined) if task == "classification" else _regression(joined)


def _by_day(joined: Joined, task: str, predictions_per_day: dict[str, int]) -> list[Record]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, day in enumerate(joined.days):
        groups[day].append(index)
    metric = "accuracy" if task == "classification" else "mae"
    per_row: list[Any] = []
    if joined.ids:
        per_row = hits(joined) if task == "classification" else absolute_errors(joined).tolist()
    trend = []
    for day in sorted(set(predictions_per_day) | set(groups)):
        rows = groups.get(day, [])
        entry: Record = {"day": day, "predictions": predictions_per_day.get(day, 0)}
        entry["labelled"] = len(rows)
        if rows:
            entry[metric] = sum(per_row[i] for i in rows) / len(rows)
        trend.append(entry)
    return trend


def measure(population: Population, joined: Joined, task: str = "auto") -> dict[str, Any]:
    """Every figure of the report, as ``metrics.json`` holds them."""
    total = len(population.predictions)
    task = resolve_task(joined, task)
    per_day: dict[str, int] = defaultdict(int)
    for record in population.predictions:
        per_day[str(record.get("timestamp", ""))[:10] or "unknown"] += 1
    result: dict[str, Any] = {
        "task": task,
        "predictions": total,
        "failed_requests": population.failed,
        "labelled": len(joined.ids),
        "coverage": len(joined.ids) / total if total else 0.0,
    }
    if joined.ids:
        result[task] = scores(joined, task)
    result["by_day"] = _by_day(joined, task, per_day)
    return result
