"""Champion and challenger: the canary split and its key, the variants: block, and the
live quality figures each arm shows."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pydantic
import pytest
from prometheus_client import CollectorRegistry

from nervosum.config.variants import VariantsSpec
from nervosum.observe.feedback import FeedbackTracker
from nervosum.serving.arms import in_canary, key_of, routing_key

KEYS = [f"user-{n}" for n in range(10_000)]


@pytest.mark.parametrize("share", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_the_canary_split_is_within_two_points_of_the_share(share: float) -> None:
    taken = sum(in_canary(key, share) for key in KEYS) / len(KEYS)
    assert abs(taken - share) < 0.02


def test_a_key_stays_on_its_arm_and_the_extremes_are_all_or_nothing() -> None:
    first = [in_canary(key, 0.3) for key in KEYS[:500]]
    assert [in_canary(key, 0.3) for key in KEYS[:500]] == first
    assert not any(in_canary(key, 0) for key in KEYS[:500])
    assert all(in_canary(key, 1) for key in KEYS[:500])


def test_a_key_in_a_smaller_share_stays_in_a_larger_one() -> None:
    # Raising the share only moves keys to the challenger, never back.
    assert all(in_canary(key, 0.2) for key in KEYS if in_canary(key, 0.1))


def test_the_routing_key_comes_from_the_id_or_a_header() -> None:
    headers = [(b"content-type", b"application/json"), (b"x-user-id", b"u-7")]
    records = [{"key": 42, "x": 1.0}, {"key": 43, "x": 2.0}]
    assert routing_key("id", records, headers, "key") == "42"
    assert routing_key("id", [{"x": 1.0}], headers, "key") is None
    assert routing_key("id", records, headers, None) is None
    assert routing_key("header:X-User-ID", records, headers, "key") == "u-7"
    assert routing_key("header:X-Tenant", records, headers, "key") is None
    assert routing_key("random", records, headers, "key") is None


def test_the_default_key_is_the_id_field_else_the_user_header() -> None:
    spec = VariantsSpec(challenger="../v2")
    assert key_of(spec, "key") == "id"
    assert key_of(spec, None) == "header:X-User-ID"
    assert key_of(VariantsSpec(challenger="../v2", key="random"), "key") == "random"


@pytest.mark.parametrize(
    ("written", "share"), [("10%", 0.1), ("12.5 %", 0.125), (0.3, 0.3), ("1", 1)]
)
def test_a_share_is_a_number_or_a_percentage(written: object, share: float) -> None:
    assert VariantsSpec.model_validate({"challenger": "v2", "share": written}).share == share


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"challenger": "v2", "share": "150%"}, "not between 0% and 100%"),
        ({"challenger": "v2", "share": "ten"}, "not a share"),
        ({"challenger": "v2", "share": True}, "not a share"),  # YAML's yes: not 100%
        ({"challenger": "v2", "share": 2}, "less than or equal to 1"),
        ({"challenger": "v2", "key": "cookie"}, "use id, random or header:<Name>"),
        ({"challenger": "v2", "key": "header:"}, "use id, random or header:<Name>"),
        ({"challenger": "v2", "mode": "mirror"}, "'shadow' or 'canary'"),
        ({"challenger": "v2", "shadow_queue": 0}, "greater than or equal to 1"),
        ({"mode": "shadow"}, "Field required"),
    ],
)
def test_a_bad_variants_block_says_what_is_wrong(block: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        VariantsSpec.model_validate(block)


def test_each_arms_quality_is_accuracy_for_classes_and_mae_for_numbers() -> None:
    registry = CollectorRegistry()
    classes = FeedbackTracker(registry, "a", "m", window=10)
    classes.remember(["1", "2", "3"], [{"label": "yes"}, {"label": "no"}, {"label": "no"}], None)
    assert classes.quality() == {"labels": 0, "accuracy": None, "log_loss": None, "auc": None}
    classes.labelled([{"id": "1", "label": "yes"}, {"id": "2", "label": "yes"}])
    assert classes.quality() == {"labels": 2, "accuracy": 0.5, "log_loss": None, "auc": None}
    values = FeedbackTracker(CollectorRegistry(), "b", "m", window=10)
    values.remember(["1", "2"], [{"key": "1", "price": 10.0}, {"key": "2", "price": 4.0}], "key")
    values.labelled([{"id": "1", "label": 12}, {"id": "2", "label": 5}, {"id": "9", "label": 1}])
    assert values.quality() == {"labels": 2, "mae": 1.5, "rmse": math.sqrt((4 + 1) / 2)}


def test_log_loss_auc_and_rmse_equal_scikit_learns() -> None:
    """The live figures per arm, against scikit-learn's on the same seeded predictions."""
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

    rng = random.Random(7)
    tracker = FeedbackTracker(CollectorRegistry(), "c", "m", window=500)
    ids, outputs, labels, chances = [], [], [], []
    for n in range(400):
        p_yes = round(rng.uniform(0.02, 0.98), 2)  # ties happen: AUC must count them half
        label = "yes" if rng.random() < p_yes else "no"
        ids.append(str(n))
        outputs.append(
            {
                "label": "yes" if p_yes >= 0.5 else "no",
                "probabilities": {"no": 1 - p_yes, "yes": p_yes},
            }
        )
        labels.append(label)
        chances.append(p_yes)
    tracker.remember(ids, outputs, None)
    tracker.labelled([{"id": i, "label": y} for i, y in zip(ids, labels, strict=True)])
    figures = tracker.quality()
    truth = [y == "yes" for y in labels]
    assert figures["log_loss"] == pytest.approx(
        log_loss(truth, [[1 - p, p] for p in chances]), abs=1e-9
    )
    assert figures["auc"] == pytest.approx(roc_auc_score(truth, chances), abs=1e-12)

    values = FeedbackTracker(CollectorRegistry(), "d", "m", window=500)
    predicted = [rng.uniform(0, 10) for _ in range(300)]
    actual = [p + rng.gauss(0, 1) for p in predicted]
    values.remember([str(n) for n in range(300)], [{"y": p} for p in predicted], None)
    values.labelled([{"id": str(n), "label": a} for n, a in enumerate(actual)])
    rmse = math.sqrt(mean_squared_error(actual, predicted))
    assert values.quality()["rmse"] == pytest.approx(rmse, abs=1e-9)


def test_admin_routes_are_admin_whatever_the_method() -> None:
    from nervosum.serving.auth.policy import Policy

    policy = Policy(metrics="open", docs="open")
    for method in ("POST", "GET", "PUT"):
        assert policy.access(method, "/-/promote") == "admin"
        assert policy.access(method, "/-/rollback") == "admin"
    assert policy.access("GET", "/-/arms") == "predict"


def test_evaluate_leaves_shadow_copies_out_and_keeps_canary_answers(tmp_path: Path) -> None:
    """A shadow copy carries the champion's id: kept, each label would count twice."""
    from nervosum.evaluate.logsource import read_log

    log = tmp_path / "predictions.jsonl"
    lines = [
        {"id": "a", "arm": "champion", "outputs": {"y": 1}, "epoch": 1},
        {"id": "a", "arm": "challenger", "outputs": {"y": 0}, "epoch": 2},  # shadow
        {"id": "b", "arm": "challenger", "outputs": {"y": 1}, "epoch": 3},  # canary
        {"id": "c", "outputs": {"y": 1}, "epoch": 4},  # no challenger at all
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    kept = read_log(str(log))
    assert [(r["id"], r.get("arm")) for r in kept] == [
        ("a", "champion"),
        ("b", "challenger"),
        ("c", None),
    ]
    both = read_log(str(log), shadow_copies=True)  # evaluate --compare needs both arms
    assert [(r["id"], r.get("arm")) for r in both] == [
        ("a", "champion"),
        ("a", "challenger"),
        ("b", "challenger"),
        ("c", None),
    ]
