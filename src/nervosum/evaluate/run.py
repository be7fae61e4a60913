"""One evaluation: read a prediction log, join it with ground truth, measure it, and
write ``metrics.json`` and ``report.html``. ``nervosum evaluate`` is this plus its
options and a summary on the terminal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nervosum.evaluate.compare import compare as compare_arms
from nervosum.evaluate.drift import input_drift, read_reference
from nervosum.evaluate.logsource import answered, read_log
from nervosum.evaluate.measure import join, measure, read_labels, resolve_task, split_log
from nervosum.evaluate.report import render


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation measured and where it wrote it."""

    figures: dict[str, Any]
    metrics: Path
    report: Path


@dataclass(frozen=True)
class LogQuery:
    """Which logged predictions to read: a log file or database URL, its table, a period."""

    source: str
    table: str = "predictions"
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Labels:
    """Ground truth from a file (CSV, JSON Lines, Parquet), or, with no file, the
    feedback records in the log itself."""

    path: Path | None = None
    id_field: str = "id"
    label_field: str = "label"


def evaluate_log(
    query: LogQuery,
    labels: Labels,
    out: Path,
    *,
    task: str = "auto",
    reference: Path | None = None,
    compare: bool = False,
    confidence: float = 0.95,
) -> Evaluation:
    """Measure the predictions ``query`` selects against ``labels``; with ``reference``
    (training data), input drift per feature; with ``compare``, the champion against
    the challenger, tested at ``confidence``. Writes both files into ``out``."""
    records = read_log(
        query.source,
        table=query.table,
        since=query.since,
        until=query.until,
        shadow_copies=compare,
    )
    population = split_log(answered(records) if compare else records)
    truth = (
        read_labels(labels.path, labels.id_field, labels.label_field)
        if labels.path is not None
        else population.feedback
    )
    joined = join(population, truth)
    task = resolve_task(joined, task)
    # First, so that a log it cannot compare is refused before anything is measured.
    comparison = compare_arms(records, truth, task=task, confidence=confidence) if compare else None
    figures = measure(population, joined, task)
    if comparison is not None:
        figures["comparison"] = comparison
    if reference is not None:
        inputs = [r.get("inputs") or {} for r in population.predictions]
        figures["drift"] = input_drift(read_reference(reference), inputs)
    out.mkdir(parents=True, exist_ok=True)
    metrics = out / "metrics.json"
    metrics.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    models = sorted({str(r.get("model")) for r in population.predictions}) or ["no model"]
    page = render(
        figures,
        joined,
        title=f"Evaluation of {', '.join(models)}",
        period=_period(population.predictions),
    )
    report = out / "report.html"
    report.write_text(page, encoding="utf-8")
    return Evaluation(figures, metrics, report)


def _period(predictions: list[dict[str, Any]]) -> str:
    stamps = [str(r.get("timestamp", ""))[:19] for r in predictions if r.get("timestamp")]
    return f"{min(stamps)} to {max(stamps)} UTC" if stamps else "no predictions"
