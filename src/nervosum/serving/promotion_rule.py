"""``variants.promote``: the server promotes the challenger by itself once the labels say
it is better (docs/variants.md, "Promotion by rule").

The rule keeps a per-row figure of each arm's labelled predictions since the pair was
formed (the server's start or the last promotion or rollback), the most recent
``window`` of them. In shadow mode both arms answered every request, so a label grades
both and the rule keeps pairs; in canary mode each arm is judged on its own rows. The
judgement is the one ``nervosum evaluate --compare`` makes on a log
(:mod:`nervosum.observe.significance`): the challenger must be better at
``confidence`` and by at least ``better_by`` on the rule's metric, with ``min_labels``
rows per arm.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nervosum.config.types import Record
from nervosum.config.variants import PromoteSpec
from nervosum.observe import significance
from nervosum.observe.feedback import Graded

# What each metric grades: a classifier's labels or a regressor's.
_KIND = {"accuracy": "classes", "log_loss": "classes", "mae": "regression", "rmse": "regression"}
_OTHERS = {"classes": "accuracy or log_loss", "regression": "mae or rmse"}


def _row(graded: Graded, metric: str) -> float | None:
    """The row's contribution to ``metric`` (a hit, a loss or a squared error); None
    when the row cannot give it (log loss without probabilities)."""
    if metric == "log_loss":
        return graded.log_loss
    return graded.score**2 if metric == "rmse" else graded.score


def _figure(values: Sequence[float], metric: str) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(mean) if metric == "rmse" else mean


@dataclass(frozen=True)
class Sample:
    """The rows the rule judges, copied off the live windows (the judgement runs on a
    thread while labels keep arriving)."""

    champion: list[float]
    challenger: list[float]


@dataclass(frozen=True)
class Judgement:
    """What the rule concluded on a sample, and why in one sentence."""

    labels: dict[str, int]
    figures: dict[str, float]
    test: Record
    verdict: str
    promote: bool
    why: str

    def as_dict(self) -> Record:
        return {
            "labels": self.labels,
            "figures": self.figures,
            "test": self.test,
            "verdict": self.verdict,
            "promote": self.promote,
            "why": self.why,
        }


class PromotionRule:
    """The rule's rows for the current pair of arms, and its judgement of them."""

    def __init__(self, spec: PromoteSpec, *, paired: bool) -> None:
        self.spec = spec
        self.paired = paired
        self._champion: deque[float] = deque(maxlen=spec.window)
        self._challenger: deque[float] = deque(maxlen=spec.window)
        self.mismatch: str | None = None  # the metric does not grade this model's labels
        self.last: Judgement | None = None

    def add(
        self, champion: Sequence[Graded | None], challenger: Sequence[Graded | None], kind: str
    ) -> None:
        """One feedback call's grades of each arm, item by item (None: not that arm's)."""
        metric = self.spec.metric
        if _KIND[metric] != kind:
            self.mismatch = (
                f"the rule's metric {metric} grades {_KIND[metric]}, and the labels are"
                f" {kind}: use {_OTHERS[kind]}"
            )
            return
        if self.paired:
            for ours, theirs in zip(champion, challenger, strict=True):
                pair = _rows(ours, theirs, metric)
                if pair is not None:
                    self._champion.append(pair[0])
                    self._challenger.append(pair[1])
            return
        for graded, kept in ((champion, self._champion), (challenger, self._challenger)):
            kept.extend(v for g in graded if g is not None and (v := _row(g, metric)) is not None)

    def reset(self) -> None:
        """A new pair of arms (a promotion or a rollback): judged on its own labels."""
        self._champion.clear()
        self._challenger.clear()
        self.last = None

    def labels(self) -> dict[str, int]:
        return {"champion": len(self._champion), "challenger": len(self._challenger)}

    def shortfall(self) -> str | None:
        """Why the rule cannot judge yet (and a manual promotion must wait); None once
        each arm has ``min_labels`` rows."""
        if self.mismatch is not None:
            return self.mismatch
        least = self.spec.min_labels
        if min(len(self._champion), len(self._challenger)) >= least:
            return None
        rows = "labelled pairs" if self.paired else "labelled rows per arm"
        return (
            f"the promote rule needs {least} {rows}: the champion has {len(self._champion)}"
            f" and the challenger {len(self._challenger)}"
        )

    def sample(self) -> Sample:
        return Sample(list(self._champion), list(self._challenger))

    def judge(self, sample: Sample) -> Judgement:
        """The test of the difference on ``sample``, and whether it makes the challenger
        the champion: better at the rule's confidence and by its margin. Runs on a
        thread: the caller keeps it as ``last`` if the pair is still the one judged."""
        spec, metric = self.spec, self.spec.metric
        champion, challenger = _figure(sample.champion, metric), _figure(sample.challenger, metric)
        if metric == "accuracy":
            test, ahead = significance.judge_hits(
                [v == 1.0 for v in sample.champion],
                [v == 1.0 for v in sample.challenger],
                paired=self.paired,
            )
        else:
            test, ahead = significance.judge_losses(
                np.asarray(sample.champion), np.asarray(sample.challenger), paired=self.paired
            )
        verdict = significance.verdict(test, ahead, spec.confidence)
        margin = challenger - champion if metric == "accuracy" else champion - challenger
        promote = verdict == significance.CHALLENGER_BETTER and margin >= spec.better_by
        facts = (
            f"{metric} {challenger:.4g} for the challenger, {champion:.4g} for the champion;"
            f" {test.name} p = {test.p_value:.3g} at {spec.confidence * 100:g}% confidence"
        )
        if verdict == significance.CHALLENGER_BETTER and not promote:
            facts += f"; better by {margin:.4g}, less than better_by {spec.better_by:g}"
        return Judgement(
            labels={"champion": len(sample.champion), "challenger": len(sample.challenger)},
            figures={"champion": champion, "challenger": challenger},
            test=test.as_dict(),
            verdict=verdict,
            promote=promote,
            why=facts,
        )

    def describe(self) -> Record:
        """The rule in ``GET /-/arms``: its settings, the rows it holds, its last word."""
        return {
            **self.spec.model_dump(),
            "labels": self.labels(),
            "waiting": self.shortfall(),
            "last": self.last.as_dict() if self.last is not None else None,
        }


def _rows(ours: Graded | None, theirs: Graded | None, metric: str) -> tuple[float, float] | None:
    """A label both arms' predictions were graded on, as the pair of their rows."""
    if ours is None or theirs is None:
        return None
    pair = _row(ours, metric), _row(theirs, metric)
    return None if pair[0] is None or pair[1] is None else (pair[0], pair[1])
