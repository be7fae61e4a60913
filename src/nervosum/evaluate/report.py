"""The evaluation report: one self-contained HTML file (inline CSS and SVG, no scripts)."""

from __future__ import annotations

from html import escape
from importlib.resources import files
from typing import Any

from nervosum.evaluate import svg
from nervosum.evaluate.compare import HEADLINES, describe
from nervosum.evaluate.measure import Joined

_STYLE = (files("nervosum.evaluate") / "report.css").read_text(encoding="utf-8")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _cards(pairs: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<div class='card'><b>{_fmt(v)}</b><span>{escape(k)}</span></div>" for k, v in pairs
    )
    return f"<div class='cards'>{cells}</div>"


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        css = f" class='{classes[index]}'" if classes else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _panel(title: str, content: str) -> str:
    return f"<div class='panel'><h3>{escape(title)}</h3>{content}</div>" if content else ""


def _classification(figures: dict[str, Any]) -> tuple[list[tuple[str, Any]], str]:
    cards = [
        ("accuracy", figures["accuracy"]),
        ("F1 (macro)", figures["f1_macro"]),
        ("precision (macro)", figures["precision_macro"]),
        ("recall (macro)", figures["recall_macro"]),
        ("ROC AUC", figures.get("roc_auc")),
        ("log loss", figures.get("log_loss")),
    ]
    matrix = figures["confusion_matrix"]
    per_class = [
        [label, s["precision"], s["recall"], s["f1"], s["support"]]
        for label, s in figures["per_class"].items()
    ]
    calibration = figures.get("calibration") or []
    panels = _panel("Confusion matrix", svg.heatmap(matrix["labels"], matrix["matrix"]))
    if calibration:
        points = [(c["confidence"], c["accuracy"]) for c in calibration]
        chart = svg.scatter(
            points, "confidence", "accuracy", diagonal=True, limits=(0.0, 1.0, 0.0, 1.0)
        )
        panels += _panel("Calibration (top class)", chart)
    table = _table(["class", "precision", "recall", "F1", "support"], per_class)
    return cards, f"<div class='grid'>{panels}</div><h2>Per class</h2>{table}"


def _regression(figures: dict[str, Any], joined: Joined) -> tuple[list[tuple[str, Any]], str]:
    cards = [("MAE", figures["mae"]), ("RMSE", figures["rmse"]), ("R²", figures["r2"])]
    points = []
    for predicted, label in list(zip(joined.predicted, joined.labels, strict=True))[:2000]:
        try:
            points.append((float(predicted), float(label) - float(predicted)))
        except (TypeError, ValueError):
            continue
    chart = svg.scatter(points, "predicted", "residual (label - predicted)", zero_line=True)
    return cards, f"<div class='grid'>{_panel('Residuals', chart)}</div>"


def _comparison(comparison: dict[str, Any]) -> str:
    """Both arms side by side (a column each) and the verdict with its test."""
    arms = comparison["arms"]
    rows = [
        [name, *(arm[name] for arm in arms)]
        for name in ("model", "tag", "uuid", "labelled", *HEADLINES[comparison["task"]])
    ]
    return (
        f"<h2>Champion and challenger ({escape(comparison['design'])})</h2>"
        f"<div class='panel'>{_table(['', *(a['arm'] for a in arms)], rows)}"
        f"<p><b>{escape(comparison['verdict'])}</b>: {escape(describe(comparison))}</p></div>"
    )


def render(figures: dict[str, Any], joined: Joined, *, title: str, period: str) -> str:
    """The report page for ``figures`` (what ``metrics.json`` holds)."""
    task = figures["task"]
    summary = [
        ("predictions", figures["predictions"]),
        ("labelled", figures["labelled"]),
        ("coverage", f"{figures['coverage']:.1%}"),
        ("failed requests", figures["failed_requests"]),
    ]
    body = "<p>No prediction in the log has a label: nothing to measure.</p>"
    if task in figures:
        cards, body = (
            _classification(figures[task])
            if task == "classification"
            else _regression(figures[task], joined)
        )
        summary += cards
    trend = figures["by_day"]
    metric = "accuracy" if task == "classification" else "mae"
    over_time = svg.line(
        [d["day"] for d in trend],
        [d.get(metric) for d in trend],
        metric.upper() if metric == "mae" else metric,
    )
    trend_table = _table(
        ["day", "predictions", "labelled", metric],
        [[d["day"], d["predictions"], d["labelled"], d.get(metric)] for d in trend],
    )
    drift_html = ""
    drift = figures.get("drift")
    if drift:
        chart = svg.bars([(d["feature"], d["psi"], d["level"]) for d in drift], "PSI")
        rows = [[d["feature"], d["kind"], d["psi"], d["level"]] for d in drift]
        table = _table(["feature", "kind", "PSI", "drift"], rows, [d["level"] for d in drift])
        drift_html = (
            "<h2>Input drift against the reference</h2>"
            f"<div class='grid'>{_panel('Population stability index', chart)}"
            f"<div class='panel'>{table}</div></div>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><div class='sub'>{escape(period)} · {escape(task)}</div>"
        f"{_cards(summary)}{body}"
        f"{_comparison(figures['comparison']) if 'comparison' in figures else ''}"
        f"<h2>Over time</h2><div class='grid'>{_panel(metric, over_time)}"
        f"<div class='panel'>{trend_table}</div></div>"
        f"{drift_html}</body></html>"
    )
