"""Is one arm better than the other, or is the difference chance?

Four tests, one per design and task: on the same rows (shadow) each row is a pair, so
the test looks at the rows where the arms differ (McNemar's exact test for classes, the
Wilcoxon signed-rank test on absolute errors for numbers); on rows of their own
(canary) the arms are two samples (Fisher's exact test on the correct / incorrect
table, Mann-Whitney U on absolute errors). ``nervosum evaluate --compare`` judges a
prediction log with them, and a server's ``promote:`` rule its live labels, so both
name the same arm on the same rows. scipy computes each, imported only here and only
when a comparison is asked for: it comes with scikit-learn, and a plain ``nervosum
evaluate`` or a server without a rule should not pay for importing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nervosum.errors import RequestError

CHAMPION_BETTER = "champion better"
CHALLENGER_BETTER = "challenger better"
NO_DIFFERENCE = "no significant difference"


@dataclass(frozen=True)
class Test:
    """One test's outcome: scipy's statistic (None when it is not a finite number) and
    two-sided p-value, with the counts or differences it rests on."""

    name: str
    statistic_name: str
    statistic: float | None
    p_value: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statistic_name": self.statistic_name,
            "statistic": self.statistic,
            "p_value": self.p_value,
            **self.details,
        }


def _stats() -> Any:
    try:
        from scipy import stats
    except ImportError:
        raise RequestError(
            "comparing two arms (evaluate --compare, a promote: rule) needs scipy,"
            " which is not installed",
            hint="pip install 'nervosum[sklearn]' (scikit-learn brings scipy)",
        ) from None
    return stats


def require_scipy() -> None:
    """Fail now, with the install hint, when the tests could not run later."""
    _stats()


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def mcnemar(champion: Sequence[bool], challenger: Sequence[bool]) -> Test:
    """Paired classes: a two-sided binomial test on the discordant pairs, ``b`` right
    only for the champion and ``c`` right only for the challenger. Pairs both got right
    or wrong say nothing about which is better."""
    b = sum(1 for x, y in zip(champion, challenger, strict=True) if x and not y)
    c = sum(1 for x, y in zip(champion, challenger, strict=True) if y and not x)
    details = {"b": b, "c": c}
    if b + c == 0:  # the arms agree on every row: no evidence either way
        return Test("McNemar's exact test", "b/(b+c)", None, 1.0, details)
    result = _stats().binomtest(b, b + c, 0.5)
    return Test(
        "McNemar's exact test", "b/(b+c)", float(result.statistic), float(result.pvalue), details
    )


def wilcoxon(champion: np.ndarray, challenger: np.ndarray) -> Test:
    """Paired numbers: the signed-rank test on the pairs' absolute errors; the mean
    difference (champion's error minus challenger's, positive when the challenger is
    closer) says by how much."""
    differences = champion - challenger
    details = {"mean_difference": float(differences.mean())}
    if not differences.any():  # scipy divides by zero (and warns) on no difference
        return Test("Wilcoxon signed-rank test", "W", 0.0, 1.0, details)
    result = _stats().wilcoxon(champion, challenger)
    return Test(
        "Wilcoxon signed-rank test", "W", float(result.statistic), float(result.pvalue), details
    )


def fisher(champion: Sequence[bool], challenger: Sequence[bool]) -> Test:
    """Unpaired classes: Fisher's exact test on each arm's correct / incorrect counts."""
    table = [
        [sum(champion), len(champion) - sum(champion)],
        [sum(challenger), len(challenger) - sum(challenger)],
    ]
    result = _stats().fisher_exact(table)
    return Test(
        "Fisher's exact test",
        "odds ratio",
        _finite(result.statistic),
        float(result.pvalue),
        {"table": table},
    )


def mann_whitney(champion: np.ndarray, challenger: np.ndarray) -> Test:
    """Unpaired numbers: Mann-Whitney U (two-sided) on each arm's absolute errors; U is
    the champion's."""
    result = _stats().mannwhitneyu(champion, challenger, alternative="two-sided")
    return Test(
        "Mann-Whitney U test",
        "U",
        float(result.statistic),
        float(result.pvalue),
        {"mean_difference": float(champion.mean() - challenger.mean())},
    )


def judge_hits(
    champion: Sequence[bool], challenger: Sequence[bool], *, paired: bool
) -> tuple[Test, bool | None]:
    """Right or wrong per row: the test, and whether the challenger is right more often
    (None when the arms are right as often)."""
    test = (mcnemar if paired else fisher)(champion, challenger)
    return test, _ahead(sum(champion) / len(champion), sum(challenger) / len(challenger))


def judge_losses(
    champion: np.ndarray, challenger: np.ndarray, *, paired: bool
) -> tuple[Test, bool | None]:
    """A loss per row (absolute error, squared error, log loss): the test, and whether
    the challenger's losses are the smaller. A rank test can reject "no difference" in
    the other direction than the means say (the challenger closer on most rows, far off
    on a few): then neither arm is named."""
    test = (wilcoxon if paired else mann_whitney)(champion, challenger)
    by_mean = _ahead(-float(champion.mean()), -float(challenger.mean()))
    return test, by_mean if by_mean == _ranks_favour_challenger(
        test, champion, challenger
    ) else None


def _ranks_favour_challenger(
    test: Test, champion: np.ndarray, challenger: np.ndarray
) -> bool | None:
    """The rank test's own direction: paired, the median of the champion's loss minus
    the challenger's; unpaired, whether the challenger's losses are more often the
    smaller, i.e. the champion's U above half the pairs (U counts the pairs where the
    champion's loss is the larger, ties half)."""
    if test.statistic_name == "U":
        excess = (test.statistic or 0.0) - len(champion) * len(challenger) / 2
        return None if excess == 0 else excess > 0
    median = float(np.median(champion - challenger))
    return None if median == 0 else median > 0


def _ahead(champion: float, challenger: float) -> bool | None:
    return None if champion == challenger else challenger > champion


def verdict(test: Test, challenger_ahead: bool | None, confidence: float) -> str:
    """The arm whose figure is better (``challenger_ahead``; None when they are equal)
    when the test rejects "no difference" at ``confidence``, else no significant
    difference."""
    if challenger_ahead is None or test.p_value >= 1 - confidence:
        return NO_DIFFERENCE
    return CHALLENGER_BETTER if challenger_ahead else CHAMPION_BETTER
