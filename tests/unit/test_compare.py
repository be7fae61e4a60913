"""`evaluate --compare`: the four tests' figures are scipy's on the same data, and the
verdict names the better arm only when the difference is significant."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from nervosum.errors import RequestError
from nervosum.evaluate.compare import compare
from nervosum.observe import significance

N = 300
# The challenger's chance of being right (classes) or its error's spread (numbers),
# against the champion's 0.8 and 1.0, for each case.
CASES = {
    "challenger better": (0.95, 0.5),
    "champion better": (0.6, 2.0),
    "no significant difference": (0.8, 1.0),
}


def _record(arm: str, ident: str, request: str, value: Any) -> dict[str, Any]:
    tag = "v3" if arm == "champion" else "v4"
    return {
        "kind": "prediction", "status": "ok", "arm": arm, "id": ident, "request_id": request,
        "model": "churn", "tag": tag, "uuid": f"uuid-{tag}", "outputs": {"y": value},
    }  # fmt: skip


def shadow(champion: list[Any], challenger: list[Any]) -> list[dict[str, Any]]:
    """Both arms answer every request, under its id (the challenger's is the copy)."""
    return [
        _record(arm, f"r{i}", f"q{i}", value)
        for i, pair in enumerate(zip(champion, challenger, strict=True))
        for arm, value in zip(("champion", "challenger"), pair, strict=True)
    ]


def canary(champion: list[Any], challenger: list[Any]) -> list[dict[str, Any]]:
    """Each arm answers requests of its own: ids r0.. then the challenger's after them."""
    offset = len(champion)
    return [_record("champion", f"r{i}", f"q{i}", v) for i, v in enumerate(champion)] + [
        _record("challenger", f"r{offset + i}", f"q{offset + i}", v)
        for i, v in enumerate(challenger)
    ]


def guesses(truth: np.ndarray, right: float, seed: int) -> np.ndarray:
    """Predictions of ``truth`` right with probability ``right``."""
    return np.where(np.random.default_rng(seed).random(N) < right, truth, 1 - truth)


def estimates(truth: np.ndarray, spread: float, seed: int) -> np.ndarray:
    return (truth + np.random.default_rng(seed).normal(0, spread, N)).round(3)


def judge(
    paired: bool, task: str, verdict: str, seed: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """compare() on a seeded shadow (``paired``) or canary log whose challenger is as
    good as ``CASES[verdict]`` says, checking the verdict; the comparison, the labels
    and both arms' predictions. In a canary log the challenger's ids have the same
    labels as the champion's."""
    rng = np.random.default_rng(seed)
    if task == "classification":
        truth = rng.integers(0, 2, N)
        champion = guesses(truth, 0.8, seed + 1)
        challenger = guesses(truth, CASES[verdict][0], seed + 2)
    else:
        truth = rng.normal(10, 3, N).round(3)
        champion = estimates(truth, 1.0, seed + 1)
        challenger = estimates(truth, CASES[verdict][1], seed + 2)
    log = (shadow if paired else canary)(champion.tolist(), challenger.tolist())
    ids = N if paired else 2 * N
    found = compare(log, {f"r{i}": truth[i % N].item() for i in range(ids)}, task=task)
    assert (found["design"], found["verdict"]) == ("paired" if paired else "unpaired", verdict)
    return found, truth, champion, challenger


@pytest.mark.parametrize("verdict", CASES)
def test_paired_classes_are_mcnemars_exact_test(verdict: str) -> None:
    found, truth, champion, challenger = judge(True, "classification", verdict, 1)

    right = champion == truth, challenger == truth
    b = int((right[0] & ~right[1]).sum())
    c = int((~right[0] & right[1]).sum())
    expected = stats.binomtest(b, b + c, 0.5)
    test = found["test"]
    assert (test["name"], test["b"], test["c"]) == ("McNemar's exact test", b, c)
    assert test["p_value"] == pytest.approx(expected.pvalue)
    assert test["statistic"] == pytest.approx(expected.statistic)
    champion_figures, challenger_figures = found["arms"]
    assert champion_figures["labelled"] == challenger_figures["labelled"] == N
    assert champion_figures["accuracy"] == pytest.approx(right[0].mean())
    assert challenger_figures["accuracy"] == pytest.approx(right[1].mean())
    assert (challenger_figures["tag"], challenger_figures["uuid"]) == ("v4", "uuid-v4")
    assert champion_figures["log_loss"] is None  # no probabilities in the records


@pytest.mark.parametrize("verdict", CASES)
def test_paired_numbers_are_the_wilcoxon_signed_rank_test(verdict: str) -> None:
    found, truth, champion, challenger = judge(True, "regression", verdict, 4)

    errors = np.abs(champion - truth), np.abs(challenger - truth)
    expected = stats.wilcoxon(*errors)
    test = found["test"]
    assert test["name"] == "Wilcoxon signed-rank test"
    assert test["statistic"] == pytest.approx(expected.statistic)
    assert test["p_value"] == pytest.approx(expected.pvalue)
    assert test["mean_difference"] == pytest.approx((errors[0] - errors[1]).mean())
    assert found["arms"][0]["mae"] == pytest.approx(errors[0].mean())
    assert found["arms"][1]["rmse"] == pytest.approx(np.sqrt((errors[1] ** 2).mean()))


@pytest.mark.parametrize("verdict", CASES)
def test_unpaired_classes_are_fishers_exact_test(verdict: str) -> None:
    found, truth, champion, challenger = judge(False, "classification", verdict, 7)

    right = [int((champion == truth).sum()), int((challenger == truth).sum())]
    table = [[right[0], N - right[0]], [right[1], N - right[1]]]
    expected = stats.fisher_exact(table)
    test = found["test"]
    assert (test["name"], test["table"]) == ("Fisher's exact test", table)
    assert test["statistic"] == pytest.approx(expected.statistic)
    assert test["p_value"] == pytest.approx(expected.pvalue)
    assert [arm["labelled"] for arm in found["arms"]] == [N, N]


@pytest.mark.parametrize("verdict", CASES)
def test_unpaired_numbers_are_mann_whitney_u(verdict: str) -> None:
    found, truth, champion, challenger = judge(False, "regression", verdict, 10)

    errors = np.abs(champion - truth), np.abs(challenger - truth)
    expected = stats.mannwhitneyu(*errors, alternative="two-sided")
    test = found["test"]
    assert test["name"] == "Mann-Whitney U test"
    assert test["statistic"] == pytest.approx(expected.statistic)
    assert test["p_value"] == pytest.approx(expected.pvalue)
    assert test["mean_difference"] == pytest.approx(errors[0].mean() - errors[1].mean())


def test_arms_that_never_disagree_are_no_evidence_either_way() -> None:
    right = [True, False, True]
    test = significance.mcnemar(right, right)
    assert (test.p_value, test.statistic, test.details) == (1.0, None, {"b": 0, "c": 0})
    errors = np.array([0.5, 1.0, 0.0])
    test = significance.wilcoxon(errors, errors.copy())  # scipy would warn: 0 / 0
    assert (test.p_value, test.details["mean_difference"]) == (1.0, 0.0)
    assert significance.verdict(test, None, 0.95) == "no significant difference"


def test_the_confidence_decides_how_small_a_p_value_must_be() -> None:
    test = significance.Test("t", "x", 1.0, 0.03)
    assert significance.verdict(test, True, 0.95) == "challenger better"
    assert significance.verdict(test, False, 0.95) == "champion better"
    assert significance.verdict(test, True, 0.99) == "no significant difference"


def test_an_arm_that_served_two_models_is_refused_with_the_promotion_time() -> None:
    rows = shadow([1, 0], [1, 1])
    rows[2] = {**rows[2], "tag": "v5", "uuid": "uuid-v5"}  # the champion after a promotion
    promotion = {"kind": "promotion", "timestamp": "2026-12-01T08:00:00.123+00:00"}
    with pytest.raises(RequestError) as error:
        compare([*rows, promotion], {"r0": 1, "r1": 1}, task="classification")
    assert "the champion served 2 models" in error.value.message
    assert error.value.hint is not None and "--since 2026-12-01T08:00:00" in error.value.hint


@pytest.mark.parametrize("paired", [True, False])
def test_a_rank_test_against_the_means_names_no_arm(paired: bool) -> None:
    """The challenger 0.1 closer on 30 rows and 100 off on one: the rank test rejects "no
    difference" in the challenger's favour while its mean error is the worse one."""
    champion = [10.3] * 31
    challenger = [10.2] * 30 + [110.0]
    log = (shadow if paired else canary)(champion, challenger)
    ids = 31 if paired else 62
    found = compare(log, {f"r{i}": 10.0 for i in range(ids)}, task="regression")
    assert found["test"]["p_value"] < 0.05
    assert found["arms"][1]["mae"] > found["arms"][0]["mae"]
    assert found["verdict"] == significance.NO_DIFFERENCE
