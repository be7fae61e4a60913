"""Small inline SVG charts for the evaluation report: no plotting library, no scripts,
so the report is one self-contained file that opens anywhere, offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 560
HEIGHT = 300
MARGIN = 48
INK = "#1f2937"
MUTED = "#9ca3af"
ACCENT = "#2563eb"
LEVELS = {"none": "#16a34a", "moderate": "#d97706", "major": "#dc2626"}


def _frame(body: str, width: int = WIDTH, height: int = HEIGHT, title: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"'
        f' font-family="system-ui, sans-serif" font-size="11">{body}</svg>'
    )


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" fill="{INK}" {extra}>{escape(text)}</text>'


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """A confusion matrix: rows true classes, columns predicted, cells shaded by count."""
    count = max(len(labels), 1)
    cell = min(56, (HEIGHT - 2 * MARGIN) // count)
    peak = max((max(row) for row in matrix), default=0) or 1
    left, top = MARGIN + 40, MARGIN
    parts = []
    for i, row in enumerate(matrix):
        parts.append(_text(left - 6, top + i * cell + cell / 2 + 4, labels[i], text_anchor="end"))
        for j, value in enumerate(row):
            shade = value / peak
            fill = f"rgba(37,99,235,{0.08 + 0.92 * shade:.2f})"
            colour = "#fff" if shade > 0.5 else INK
            x, y = left + j * cell, top + i * cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"/>'
            )
            parts.append(
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}" fill="{colour}"'
                f' text-anchor="middle">{value}</text>'
            )
    for j, label in enumerate(labels):
        parts.append(_text(left + j * cell + cell / 2, top - 8, label, text_anchor="middle"))
    side = top + count * cell
    parts.append(_text(left + count * cell / 2, side + 18, "predicted", text_anchor="middle"))
    parts.append(
        _text(
            14, top + count * cell / 2, "true", transform=f"rotate(-90 14 {top + count * cell / 2})"
        )
    )
    width = max(WIDTH // 2, left + count * cell + MARGIN)
    return _frame("".join(parts), width, side + 30, "confusion matrix")


def _axes(x_label: str, y_label: str) -> str:
    bottom, right = HEIGHT - MARGIN, WIDTH - 16
    return (
        f'<line x1="{MARGIN}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>'
        f'<line x1="{MARGIN}" y1="{MARGIN / 2}" x2="{MARGIN}" y2="{bottom}" stroke="{MUTED}"/>'
        + _text((MARGIN + right) / 2, HEIGHT - 12, x_label, text_anchor="middle")
        + _text(12, HEIGHT / 2, y_label, transform=f"rotate(-90 12 {HEIGHT / 2})")
    )


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    span = (high - low) or 1.0
    return start + (value - low) / span * (end - start)


def scatter(
    points: Sequence[tuple[float, float]],
    x_label: str,
    y_label: str,
    *,
    diagonal: bool = False,
    zero_line: bool = False,
    limits: tuple[float, float, float, float] | None = None,
) -> str:
    """Points on two axes; ``diagonal`` draws y = x (calibration), ``zero_line`` y = 0."""
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = limits or (min(xs), max(xs), min(*ys, 0.0), max(*ys, 0.0))
    bottom, right, top = HEIGHT - MARGIN, WIDTH - 16, MARGIN / 2
    parts = [_axes(x_label, y_label)]
    for value, anchor in ((y0, "end"), (y1, "end")):
        y = _scale(value, y0, y1, bottom, top)
        parts.append(_text(MARGIN - 4, y + 4, f"{value:.3g}", text_anchor=anchor))
    for value in (x0, x1):
        x = _scale(value, x0, x1, MARGIN, right)
        parts.append(_text(x, bottom + 14, f"{value:.3g}", text_anchor="middle"))
    if diagonal:
        parts.append(
            f'<line x1="{MARGIN}" y1="{bottom}" x2="{right}" y2="{top}" stroke="{MUTED}"'
            ' stroke-dasharray="4 4"/>'
        )
    if zero_line:
        y = _scale(0.0, y0, y1, bottom, top)
        parts.append(
            f'<line x1="{MARGIN}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{MUTED}"'
            ' stroke-dasharray="4 4"/>'
        )
    radius = 4 if len(points) < 50 else 2
    for x, y in points:
        cx, cy = _scale(x, x0, x1, MARGIN, right), _scale(y, y0, y1, bottom, top)
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{ACCENT}" fill-opacity="0.7"/>'
        )
    return _frame("".join(parts), title=f"{y_label} by {x_label}")


def line(labels: Sequence[str], values: Sequence[float | None], y_label: str) -> str:
    """A metric over time: one point per label (day), joined; gaps where no value."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(0.0, *known), max(known) or 1.0
    bottom, right, top = HEIGHT - MARGIN, WIDTH - 16, MARGIN / 2
    step = (right - MARGIN) / max(len(labels) - 1, 1)
    parts = [_axes("day", y_label)]
    parts.append(_text(MARGIN - 4, top + 4, f"{high:.3g}", text_anchor="end"))
    parts.append(_text(MARGIN - 4, bottom + 4, f"{low:.3g}", text_anchor="end"))
    coordinates = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = MARGIN + index * step if len(labels) > 1 else (MARGIN + right) / 2
        if index == 0 or index == len(labels) - 1 or len(labels) <= 8:
            parts.append(_text(x, bottom + 14, label, text_anchor="middle"))
        if value is not None:
            y = _scale(value, low, high, bottom, top)
            coordinates.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{ACCENT}"/>')
    if len(coordinates) > 1:
        parts.append(
            f'<polyline points="{" ".join(coordinates)}" fill="none" stroke="{ACCENT}"'
            ' stroke-width="2"/>'
        )
    return _frame("".join(parts), title=f"{y_label} over time")


def bars(rows: Sequence[tuple[str, float, str]], x_label: str) -> str:
    """Horizontal bars (name, value, level), coloured by level, with the PSI thresholds."""
    if not rows:
        return ""
    height = MARGIN + 26 * len(rows) + 20
    left, right = 150, WIDTH - 60
    peak = max(*(v for _, v, _ in rows), 0.3)
    parts = []
    for threshold in (0.1, 0.25):
        x = _scale(threshold, 0, peak, left, right)
        parts.append(
            f'<line x1="{x:.1f}" y1="{MARGIN / 2}" x2="{x:.1f}" y2="{height - 24}"'
            f' stroke="{MUTED}" stroke-dasharray="3 3"/>'
        )
        parts.append(_text(x, MARGIN / 2 - 4, f"{threshold}", text_anchor="middle"))
    for index, (name, value, level) in enumerate(rows):
        y = MARGIN / 2 + 8 + index * 26
        width = max(_scale(value, 0, peak, left, right) - left, 1)
        parts.append(_text(left - 8, y + 13, name, text_anchor="end"))
        parts.append(
            f'<rect x="{left}" y="{y}" width="{width:.1f}" height="18"'
            f' fill="{LEVELS.get(level, ACCENT)}"/>'
        )
        parts.append(_text(left + width + 6, y + 13, f"{value:.3f}"))
    parts.append(_text((left + right) / 2, height - 6, x_label, text_anchor="middle"))
    return _frame("".join(parts), WIDTH, height, x_label)
