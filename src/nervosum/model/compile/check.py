"""Does the converted model answer like the original? Both run on the same reference rows.

A converted model serves only when every class is equal (or the original rates both
classes equally, within the probability tolerance: a tie), every probability within the
absolute tolerance and every value within the relative one. float32 inputs are the usual
cause of a disagreement: a tree threshold stored at a float64 value that float32 cannot
hold sends a row right at it down the other branch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nervosum.config.spec import SchemaField, ToleranceSpec
from nervosum.config.types import Record
from nervosum.model.outputs import native
from nervosum.model.runner import Runner
from nervosum.schema.arrays import records_to_array
from nervosum.schema.frame import records_to_frame

# Below this, two values are equal whatever their ratio (0 against 1e-12 is agreement).
VALUE_FLOOR = 1e-9

_Where = Callable[[int], str]  # a row's index -> how the reason names it


@dataclass(frozen=True)
class CheckResult:
    """The check's figures (shown in /info) and, when it failed, why."""

    rows: int
    classes_equal: bool
    max_probability_diff: float | None
    max_value_rel_diff: float | None
    worst_row: int | None
    reason: str | None

    def figures(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "classes_equal": self.classes_equal,
            "max_probability_diff": self.max_probability_diff,
            "max_value_rel_diff": self.max_value_rel_diff,
            "worst_row": self.worst_row,
        }


def runner_inputs(runner: Runner, rows: Sequence[Record], fields: Sequence[SchemaField]) -> Any:
    """What ``runner.run`` takes for these rows, built as the engine builds it: one array
    in schema order, or a typed frame."""
    if runner.takes == "array":
        return records_to_array(rows, [f.name for f in fields], runner.dtype)
    return records_to_frame(rows, fields)


def _same_label(a: Any, b: Any) -> bool:
    """Equal as JSON would say them: True is not 1, 1.0 is not 1, "1" is not 1."""
    a, b = native(a), native(b)
    return type(a) is type(b) and a == b


def _short(number: float) -> str:
    return f"{number:.2g}"


def _tied(
    probabilities: np.ndarray | None, classes: tuple[str, ...] | None, a: Any, b: Any, limit: float
) -> bool:
    """Whether the original rates classes ``a`` and ``b`` equally, within ``limit``: a tie,
    which scikit-learn breaks by the noise of its float64 sums (20 trees answering 0.35 /
    0.3 / 0.35), so either class is the model's answer."""
    if probabilities is None or classes is None:
        return False
    names = list(classes)
    if str(a) not in names or str(b) not in names:
        return False
    gap = probabilities[names.index(str(a))] - probabilities[names.index(str(b))]
    return bool(abs(gap) <= limit)


def _classes(
    expected: np.ndarray,
    answered: np.ndarray,
    where: _Where,
    ties: Callable[[int, Any, Any], bool],
) -> CheckResult | None:
    for row, (a, b) in enumerate(zip(expected.tolist(), answered.tolist(), strict=True)):
        if not _same_label(a, b) and not ties(row, a, b):
            reason = f"class differs on {where(row)}: {native(a)} vs {native(b)}"
            return CheckResult(len(expected), False, None, None, row, reason)
    return None


def _probabilities(
    expected: np.ndarray | None,
    answered: np.ndarray | None,
    classes: tuple[str, ...],
    where: _Where,
    limit: float,
) -> CheckResult:
    rows = 0 if expected is None else len(expected)
    if expected is None or answered is None or expected.shape != answered.shape:
        shapes = [None if p is None else p.shape for p in (expected, answered)]
        mismatch = f"probabilities differ in shape: {shapes[0]} vs {shapes[1]}"
        return CheckResult(rows, True, None, None, None, mismatch)
    gaps = _gaps(np.asarray(expected, np.float64), np.asarray(answered, np.float64))
    found = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
    row, column = int(found[0]), int(found[1])
    worst = float(gaps[row, column])
    reason: str | None = None
    if worst > limit:
        reason = (
            f"probability of class {classes[column]} differs by {_short(worst)} on "
            f"{where(row)}: {expected[row, column]:.6g} vs {answered[row, column]:.6g}"
        )
    return CheckResult(rows, True, worst, None, row, reason)


def _gaps(expected: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Absolute differences; NaN on one side only is the largest there is, NaN on both
    is agreement (``NaN > limit`` is false, so it would otherwise pass unseen)."""
    one_side = np.isnan(expected) != np.isnan(answered)
    gaps: np.ndarray = np.abs(np.nan_to_num(expected - answered, nan=0.0))
    gaps[one_side] = np.inf
    return gaps


def _values(expected: np.ndarray, answered: np.ndarray, where: _Where, limit: float) -> CheckResult:
    wanted, got = expected.astype(np.float64), answered.astype(np.float64)
    scale = np.maximum(np.abs(wanted), np.abs(got))
    absolute = _gaps(wanted, got)
    with np.errstate(invalid="ignore"):
        gaps = absolute / np.where(scale > 0, scale, 1.0)
    gaps[absolute <= VALUE_FLOOR] = 0.0
    gaps[np.isinf(absolute)] = np.inf
    row = int(np.argmax(gaps))
    worst = float(gaps[row])
    reason: str | None = None
    if worst > limit:
        reason = (
            f"value differs by {_short(worst)} relative on {where(row)}: "
            f"{wanted[row]:.9g} vs {got[row]:.9g}"
        )
    return CheckResult(len(wanted), True, None, worst, row, reason)


def compare(
    original: Runner,
    converted: Runner,
    rows: Sequence[Record],
    fields: Sequence[SchemaField],
    tolerance: ToleranceSpec,
) -> CheckResult:
    """Run both on ``rows`` (a classifier: classes, then probabilities; a regressor:
    values) and report the largest disagreement and its row."""
    classes = original.classes
    expected, expected_p = original.run(runner_inputs(original, rows, fields), classes is not None)
    answered, answered_p = converted.run(
        runner_inputs(converted, rows, fields), classes is not None
    )
    expected, answered = np.asarray(expected).reshape(-1), np.asarray(answered).reshape(-1)

    def where(row: int) -> str:
        return f"reference row {row} ({rows[row]})"

    if classes is None and expected.dtype.kind == "f":
        return _values(expected, answered, where, tolerance.values)

    def ties(row: int, a: Any, b: Any) -> bool:
        chances = None if expected_p is None else np.asarray(expected_p, np.float64)[row]
        return _tied(chances, classes, a, b, tolerance.probabilities)

    differs = _classes(expected, answered, where, ties)
    if differs is not None or classes is None:  # no classes: labels asked without probabilities
        return differs or CheckResult(len(rows), True, None, None, None, None)
    return _probabilities(expected_p, answered_p, classes, where, tolerance.probabilities)
