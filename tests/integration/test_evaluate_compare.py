"""`nervosum evaluate --compare` on logs as a server with a challenger writes them: the
table, metrics.json, the report and the errors, through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from nervosum.cli import main

N = 200


def record(arm: str, ident: str, request: str, value: Any, **extra: Any) -> dict[str, Any]:
    tag = "v3" if arm == "champion" else "v4"
    return {
        "kind": "prediction", "timestamp": "2026-12-01T08:00:00+00:00", "epoch": 1.8e9,
        "id": ident, "request_id": request, "row": 0, "arm": arm, "model": "churn", "tag": tag,
        "uuid": f"u-{tag}", "status": "ok", "outputs": {"churned": value}, **extra,
    }  # fmt: skip


def probabilities(predicted: int) -> list[dict[str, Any]]:
    return [
        {"class": str(predicted), "probability": 0.75},
        {"class": str(1 - predicted), "probability": 0.25},
    ]


def write(folder: Path, records: list[dict[str, Any]], labels: dict[str, Any]) -> list[str]:
    """The log and the labels file, and the arguments that name them."""
    log, truth = folder / "predictions.jsonl", folder / "truth.csv"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    truth.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in labels.items()))
    return ["--log", str(log), "--labels", str(truth), "--out", str(folder / "out")]


def evaluate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["evaluate", *args])
    return result.exit_code, result.output


@pytest.fixture
def shadow_log(tmp_path: Path) -> dict[str, Any]:
    """Both arms answer each of N requests (the challenger's record is the shadow copy),
    the challenger right far more often, every class's probability logged; one copy the
    challenger failed."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, N)
    champion = np.where(rng.random(N) < 0.7, truth, 1 - truth)
    challenger = np.where(rng.random(N) < 0.9, truth, 1 - truth)
    records = []
    for i in range(N):
        for arm, value in (("champion", int(champion[i])), ("challenger", int(challenger[i]))):
            records.append(record(arm, f"c-{i}", f"q{i}", value, classes=probabilities(value)))
    failed = {**record("challenger", "c-0", "q0", None), "status": "error"}
    args = write(tmp_path, [*records, failed], {f"c-{i}": int(v) for i, v in enumerate(truth)})
    return {"args": args, "truth": truth, "champion": champion, "challenger": challenger}


def test_a_shadow_log_is_compared_pair_by_pair_with_mcnemar(
    shadow_log: dict[str, Any], tmp_path: Path
) -> None:
    code, output = evaluate(*shadow_log["args"], "--compare")
    assert code == 0, output
    truth, champion, challenger = (shadow_log[k] for k in ("truth", "champion", "challenger"))
    b = int(((champion == truth) & (challenger != truth)).sum())
    c = int(((champion != truth) & (challenger == truth)).sum())
    p_value = stats.binomtest(b, b + c, 0.5).pvalue

    figures = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert figures["labelled"] == N  # the main evaluation still leaves the copies out
    comparison = figures["comparison"]
    assert (comparison["design"], comparison["verdict"]) == ("paired", "challenger better")
    assert (comparison["test"]["b"], comparison["test"]["c"]) == (b, c)
    assert comparison["test"]["p_value"] == pytest.approx(p_value)
    arms = {arm["arm"]: arm for arm in comparison["arms"]}
    losses = np.where(challenger == truth, -np.log(0.75), -np.log(0.25))
    assert arms["challenger"] == {
        "arm": "challenger", "model": "churn", "tag": "v4", "uuid": "u-v4", "labelled": N,
        "accuracy": pytest.approx((challenger == truth).mean()),
        "log_loss": pytest.approx(losses.mean()),
    }  # fmt: skip
    assert arms["champion"]["accuracy"] == pytest.approx((champion == truth).mean())

    assert "Champion and challenger (paired)" in output
    assert "champion" in output and "challenger" in output and "u-v4" in output
    assert f"challenger better (McNemar's exact test: b = {b}, c = {c}" in output
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Champion and challenger (paired)</h2>" in page
    assert "<b>challenger better</b>: McNemar&#x27;s exact test" in page


def test_a_canary_log_is_compared_arm_by_arm_with_mann_whitney(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(50, 10, 2 * N).round(2)
    guesses = (truth + rng.normal(0, 4, 2 * N)).round(2)  # two equally good arms
    records = [
        record("champion" if i < N else "challenger", f"k{i}", f"q{i}", float(guesses[i]))
        for i in range(2 * N)
    ]
    args = write(tmp_path, records, {f"k{i}": float(v) for i, v in enumerate(truth)})
    code, output = evaluate(*args, "--compare", "--confidence", "0.99")
    assert code == 0, output

    comparison = json.loads((tmp_path / "out" / "metrics.json").read_text())["comparison"]
    absolute = np.abs(guesses - truth)
    expected = stats.mannwhitneyu(absolute[:N], absolute[N:], alternative="two-sided")
    assert (comparison["design"], comparison["task"]) == ("unpaired", "regression")
    assert comparison["confidence"] == 0.99
    assert comparison["verdict"] == "no significant difference"
    assert comparison["test"]["name"] == "Mann-Whitney U test"
    assert comparison["test"]["statistic"] == pytest.approx(expected.statistic)
    assert comparison["test"]["p_value"] == pytest.approx(expected.pvalue)
    assert [a["labelled"] for a in comparison["arms"]] == [N, N]
    assert comparison["arms"][1]["mae"] == pytest.approx(absolute[N:].mean())
    assert "mae" in output and "rmse" in output and "at 99% confidence" in output


def test_compare_needs_a_challenger_and_labels_for_each_arm(tmp_path: Path) -> None:
    served = [record("champion", f"a{i}", f"q{i}", 1) for i in range(5)]
    alone = [{k: v for k, v in r.items() if k != "arm"} for r in served]  # no challenger
    code, output = evaluate(*write(tmp_path, alone, {"a0": 1, "a1": 0}), "--compare")
    assert code == 2 and "the log has no answer of a challenger" in output
    assert "hint: serve with --challenger" in output

    canary = [record("champion", "a", "q1", 1), record("challenger", "b", "q2", 1)]
    code, output = evaluate(*write(tmp_path, canary, {"a": 1}), "--compare")
    assert code == 2 and "no labelled rows for the challenger" in output and "hint:" in output

    code, output = evaluate(*write(tmp_path, canary, {"a": 1, "b": 0}), "--confidence", "1.5")
    assert code == 2 and "--confidence" in output
