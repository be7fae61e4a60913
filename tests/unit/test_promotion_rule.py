"""The ``promote:`` rule's judgement (serving/promotion_rule.py) and the shared tests'
direction (observe/significance.py), on seeded data against scipy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats
from sklearn.metrics import log_loss

from nervosum.config.variants import PromoteSpec, VariantsSpec
from nervosum.observe import significance
from nervosum.observe.feedback import Graded
from nervosum.serving.promotion_rule import PromotionRule


def rule(paired: bool = True, **given: object) -> PromotionRule:
    spec = PromoteSpec.model_validate({"metric": "mae", "min_labels": 30, **given})
    return PromotionRule(spec, paired=paired)


def errors(seed: int, scale: float, rows: int = 200) -> list[Graded]:
    return [Graded(float(e)) for e in np.abs(np.random.default_rng(seed).normal(0, scale, rows))]


def test_a_challenger_better_by_the_margin_is_promoted_on_pairs() -> None:
    judged = rule(better_by=0.1)
    champion, challenger = errors(1, 1.0), errors(2, 0.5)
    judged.add(champion, challenger, "regression")
    found = judged.judge(judged.sample())
    ours = np.array([g.score for g in champion]), np.array([g.score for g in challenger])
    assert found.promote and found.verdict == "challenger better"
    assert found.figures == pytest.approx(
        {"champion": ours[0].mean(), "challenger": ours[1].mean()}
    )
    assert found.test["p_value"] == stats.wilcoxon(*ours).pvalue
    assert found.labels == {"champion": 200, "challenger": 200}


def test_better_but_not_by_the_margin_stays_and_says_so() -> None:
    judged = rule(better_by=5.0)
    judged.add(errors(1, 1.0), errors(2, 0.5), "regression")
    found = judged.judge(judged.sample())
    assert found.verdict == "challenger better" and not found.promote
    assert "less than better_by 5" in found.why


def test_rmse_judges_squared_errors_and_reports_their_root() -> None:
    judged = rule(metric="rmse")
    champion, challenger = errors(3, 1.0), errors(4, 1.0)
    judged.add(champion, challenger, "regression")
    found = judged.judge(judged.sample())
    squares = [np.array([g.score**2 for g in arm]) for arm in (champion, challenger)]
    assert found.figures["champion"] == pytest.approx(float(np.sqrt(squares[0].mean())))
    assert found.test["p_value"] == stats.wilcoxon(*squares).pvalue


def test_unpaired_arms_keep_their_own_rows_and_use_two_sample_tests() -> None:
    judged = rule(paired=False, metric="accuracy")
    right = [Graded(1.0)] * 40 + [Graded(0.0)] * 10
    wrong = [Graded(1.0)] * 10 + [Graded(0.0)] * 30
    judged.add([*right, *[None] * 40], [*[None] * 50, *wrong], "classes")
    found = judged.judge(judged.sample())
    assert found.labels == {"champion": 50, "challenger": 40}
    assert found.test["p_value"] == stats.fisher_exact([[40, 10], [10, 30]]).pvalue
    assert found.verdict == "champion better" and not found.promote


def test_log_loss_rows_are_scikit_learns_and_rows_without_probabilities_are_skipped() -> None:
    chances = np.random.default_rng(5).uniform(0.01, 0.99, 60)
    graded = [Graded(1.0, float(p)) for p in chances]
    judged = rule(paired=False, metric="log_loss", min_labels=1)
    judged.add([*graded, Graded(1.0)], [*graded, None], "classes")
    found = judged.judge(judged.sample())
    expected = log_loss(np.ones(60), np.column_stack([1 - chances, chances]), labels=[0, 1])
    assert found.figures["champion"] == pytest.approx(expected)
    assert found.labels == {"champion": 60, "challenger": 60}


def test_the_rule_waits_for_its_labels_and_for_a_metric_that_fits() -> None:
    judged = rule()
    judged.add(errors(1, 1.0, rows=10), errors(2, 1.0, rows=10), "regression")
    assert judged.shortfall() == (
        "the promote rule needs 30 labelled pairs: the champion has 10 and the challenger 10"
    )
    judged.add([Graded(1.0)], [Graded(0.0)], "classes")
    assert judged.shortfall() == (
        "the rule's metric mae grades regression, and the labels are classes:"
        " use accuracy or log_loss"
    )


def test_the_window_keeps_the_most_recent_rows_and_a_new_pair_starts_empty() -> None:
    judged = rule(window=50)
    judged.add(errors(1, 1.0), errors(2, 1.0), "regression")
    assert judged.labels() == {"champion": 50, "challenger": 50}
    judged.reset()
    assert judged.labels() == {"champion": 0, "challenger": 0} and judged.last is None


@pytest.mark.parametrize(
    ("promote", "message"),
    [
        ({"metric": "auc"}, "auc cannot be tested row by row"),
        ({"metric": "f1"}, "'f1' is not one of accuracy, log_loss, mae, rmse"),
        ({"metric": "mae", "min_labels": 20, "window": 10}, "must be at least min_labels"),
        ({"metric": "mae", "confidence": 1}, "less than 1"),
        ({"metric": "mae", "better_by": -0.1}, "greater than or equal to 0"),
    ],
)
def test_a_bad_rule_is_refused_naming_it(promote: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VariantsSpec.model_validate({"challenger": "v2", "promote": promote})


def test_the_unpaired_direction_from_u_is_the_pairwise_count() -> None:
    generator = np.random.default_rng(7)
    for _ in range(20):
        champion = generator.integers(0, 5, 40).astype(float)  # many ties
        challenger = generator.integers(0, 5, 30).astype(float)
        test, _ = significance.judge_losses(champion, challenger, paired=False)
        smaller = (challenger[:, None] < champion[None, :]).sum()
        larger = (challenger[:, None] > champion[None, :]).sum()
        expected = None if smaller == larger else bool(smaller > larger)
        assert significance._ranks_favour_challenger(test, champion, challenger) == expected
