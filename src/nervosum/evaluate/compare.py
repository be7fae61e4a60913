"""Champion against challenger on a prediction log's labelled rows (``evaluate --compare``).

A shadow log holds both arms' answers to the same requests (the challenger's copy keeps
the request's ``request_id`` and ``id``): the arms are compared on those pairs, so both
face exactly the same rows and a paired test can use that. A canary log answers each
request with one arm: each arm is measured on its own rows, with a test for two
samples. Which design applies is read from the log: requests both arms answered make it
paired. Records without an ``arm`` (a server without a challenger) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nervosum.config.types import Record
from nervosum.errors import RequestError
from nervosum.evaluate.measure import (
    Joined,
    Population,
    absolute_errors,
    hits,
    join,
    scores,
    split_log,
)
from nervosum.observe import significance
from nervosum.predlog.events import PROMOTION

CHAMPION = "champion"
CHALLENGER = "challenger"
# The figures shown per arm; the full set stays in the main evaluation.
HEADLINES = {"classification": ("accuracy", "log_loss"), "regression": ("mae", "rmse")}


@dataclass(frozen=True)
class Arm:
    """One arm's labelled answers and the model that gave them."""

    name: str
    model: dict[str, Any]
    joined: Joined


def compare(
    records: Sequence[Record],
    labels: dict[str, Any],
    *,
    task: str,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Both arms' figures on the labelled rows, the test of their difference at
    ``confidence`` and the verdict, as ``metrics.json`` holds them under
    ``comparison``. ``task`` is the evaluation's (classification or regression).
    ``records`` must keep the shadow copies (``read_log(..., shadow_copies=True)``)."""
    answers = split_log(records).predictions
    champion = [r for r in answers if r.get("arm") == CHAMPION]
    challenger = [r for r in answers if r.get("arm") == CHALLENGER]
    if not challenger:
        raise RequestError(
            "the log has no answer of a challenger: nothing to compare",
            hint="serve with --challenger PATH and --shadow or --canary (docs/variants.md),"
            " or drop --compare",
        )
    pairs = _pairs(champion, challenger)
    paired = bool(pairs[0])
    if paired:
        champion, challenger = pairs
    arms = [
        Arm(name, _model(name, rows, records), join(Population(rows, 0, {}), labels))
        for name, rows in ((CHAMPION, champion), (CHALLENGER, challenger))
    ]
    for arm in arms:
        if not arm.joined.ids:
            raise RequestError(
                f"no labelled rows for the {arm.name}"
                + (" among the requests both arms answered" if paired else ""),
                hint="check that the labels' ids are the log's (--id-field), and --since/--until",
            )
    test, challenger_ahead = _test(arms[0].joined, arms[1].joined, task, paired)
    return {
        "design": "paired" if paired else "unpaired",
        "task": task,
        "confidence": confidence,
        "arms": [_figures(arm, task) for arm in arms],
        "test": test.as_dict(),
        "verdict": significance.verdict(test, challenger_ahead, confidence),
    }


def _pairs(champion: list[Record], challenger: list[Record]) -> tuple[list[Record], list[Record]]:
    """The champion's and the challenger's answers to the same requests, in the same
    order (empty lists when no request was answered by both)."""
    copies = {(r.get("request_id"), r.get("id")): r for r in challenger}
    both = [
        (r, copies[key]) for r in champion if (key := (r.get("request_id"), r.get("id"))) in copies
    ]
    return [a for a, _ in both], [b for _, b in both]


def _model(arm: str, rows: list[Record], records: Sequence[Record]) -> dict[str, Any]:
    """The model an arm served. An arm that served two (a promotion or a restart with
    another model within the period) cannot be judged as one: the figures would blend
    both models."""
    models = {(r.get("model"), r.get("tag"), r.get("uuid")) for r in rows}
    if len(models) > 1:
        promotions = [str(r.get("timestamp")) for r in records if r.get("kind") == PROMOTION]
        since = f"--since {promotions[-1][:19]}" if promotions else "--since/--until"
        raise RequestError(
            f"the {arm} served {len(models)} models within the period (a promotion?)",
            hint=f"compare a period with one model per arm: {since}",
        )
    model, tag, uuid = next(iter(models), (None, None, None))
    return {"model": model, "tag": tag, "uuid": uuid}


def _test(
    champion: Joined, challenger: Joined, task: str, paired: bool
) -> tuple[significance.Test, bool | None]:
    """The test of the difference, and whether the challenger's figure is the better one
    (None when they are equal, or the test's ranks disagree with the means)."""
    if task == "classification":
        return significance.judge_hits(hits(champion), hits(challenger), paired=paired)
    errors = absolute_errors(champion), absolute_errors(challenger)
    return significance.judge_losses(*errors, paired=paired)


def _figures(arm: Arm, task: str) -> dict[str, Any]:
    found = scores(arm.joined, task)
    return {
        "arm": arm.name,
        **arm.model,
        "labelled": len(arm.joined.ids),
        **{name: found.get(name) for name in HEADLINES[task]},
    }


def describe(comparison: dict[str, Any]) -> str:
    """The test behind a comparison's verdict in one line: its name, the counts or the
    difference it rests on, its statistic and p-value, the confidence asked for."""
    test = comparison["test"]
    facts = [f"{name} = {test[name]}" for name in ("b", "c") if name in test]
    if "mean_difference" in test:
        facts.append(f"mean error champion - challenger = {test['mean_difference']:.4g}")
    statistic = "n/a" if test["statistic"] is None else f"{test['statistic']:.4g}"
    facts += [f"{test['statistic_name']} = {statistic}", f"p = {test['p_value']:.4g}"]
    return f"{test['name']}: {', '.join(facts)}; at {comparison['confidence'] * 100:g}% confidence"
