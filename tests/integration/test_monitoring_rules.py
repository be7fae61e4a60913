"""The alert rules `nervosum monitoring` writes, judged by Prometheus' own promtool: they
load (`promtool check rules`, as a rules file and as a PrometheusRule's spec), and each
alert fires on series that should fire it and stays quiet on series that should not
(`promtool test rules`, a unit-test file per alert written here). The same for a stream
worker's rules and for a repository's, whose rules alert per model."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from nervosum.config.alerts import AlertsSpec
from nervosum.deploy.alerts import rule_object, rules
from nervosum.deploy.monitoring_files import RULES, write_monitoring
from nervosum.deploy.watch import CLASSES, REPO, STREAM, Watched
from nervosum.project import load_config
from tests.conftest import ProjectFactory

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

WATCHED = Watched(
    model="churn",
    prefix="nervosum",
    predictions=(CLASSES,),
    drift=True,
    logging=True,
    arms=False,
    alerts=AlertsSpec(),
)
STREAMED = replace(WATCHED, runtime=STREAM)
REPOSITORY = replace(WATCHED, model="models_serve", runtime=REPO)
MODEL = 'model="churn"'


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("watched", "count"),
    [(WATCHED, 6), (STREAMED, 7), (REPOSITORY, 6)],
    ids=["serve", "stream", "repo"],
)
def test_each_rules_file_passes_promtool_check(
    watched: Watched, count: int, tmp_path: Path
) -> None:
    written = write_monitoring(watched, tmp_path / "out")
    checked = promtool("check", "rules", str(written[1]))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {count} rules found" in checked.stdout


def test_not_ready_for_renders_as_prometheus_reads_it(tmp_path: Path) -> None:
    """Every duration nervosum.yaml reads is one a rule's ``for:`` takes as it is."""
    held = replace(WATCHED, alerts=AlertsSpec(not_ready_for="1h30m"))
    written = write_monitoring(held, tmp_path / "out")
    checked = promtool("check", "rules", str(written[1]))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {rule["for"] for rule in rules(held) if rule["alert"].endswith("NotReady")} == {"1h30m"}


def test_rules_file_and_prometheus_rule_pass_promtool_check(tmp_path: Path) -> None:
    written = write_monitoring(WATCHED, tmp_path / "out")
    values = {"name": "churn", "label": "churn", "namespace": "scoring"}
    rule = rule_object(WATCHED, values)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["namespace"] == "scoring"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(rule["spec"]))
    checked = promtool("check", "rules", str(spec))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert yaml.safe_load(written[1].read_text()) == rule["spec"]


def test_rules_follow_the_project(make_project: ProjectFactory) -> None:
    """Drift only with a reference, drops only with logging; thresholds from
    monitoring.alerts."""
    plain = make_project(
        """
        name: plain
        model: {module: model, class: Model}
        monitoring: {alerts: {error_rate: 0.2, latency_p99: 0.25, not_ready_for: 2m}}
        """,
        {"model.py": "class Model:\n    def predict(self, frame):\n        return []\n"},
    )
    from nervosum.deploy.watch import watched

    found = {rule["alert"]: rule for rule in rules(watched(load_config(plain).config))}
    assert sorted(found) == [
        "NervosumHighErrorRate",
        "NervosumHighLatency",
        "NervosumModelNotReady",
    ]
    assert found["NervosumHighErrorRate"]["expr"].endswith("> 0.2")
    assert found["NervosumHighLatency"]["expr"].endswith("> 0.25")
    assert found["NervosumModelNotReady"]["for"] == "2m"


@dataclass(frozen=True)
class Case:
    """Series that fire ``alert`` at ``at`` (with these labels besides model and
    severity), and series that do not. ``per_model``: the query keeps the ``model``
    label (a repository's alert takes it from there)."""

    alert: str
    firing: dict[str, str]
    quiet: dict[str, str]
    at: str
    labels: dict[str, str] = field(default_factory=dict)
    per_model: bool = True


def _bucket(le: str) -> str:
    return (
        f'nervosum_http_request_duration_seconds_bucket{{{MODEL}, route="/predict",'
        f' method="POST", le="{le}"}}'
    )


def _requests(status: str) -> str:
    return (
        f'nervosum_http_requests_total{{{MODEL}, route="/predict", method="POST",'
        f' status="{status}"}}'
    )


def _share(alert: str, part: str, rest: str) -> Case:
    """``part`` grows 10 a minute (firing) or 1 (quiet) beside ``rest``'s 100: about 10%
    against 1%."""
    return Case(
        alert,
        firing={part: "0+10x60", rest: "0+100x60"},
        quiet={part: "0+1x60", rest: "0+100x60"},
        at="20m",
    )


def _slow(alert: str, bucket: Callable[[str], str]) -> Case:
    """Every observation between 0.1 and 5 s (firing), then under 0.1 s (quiet)."""
    return Case(
        alert,
        firing={bucket("0.1"): "0x60", bucket("5"): "0+10x60", bucket("+Inf"): "0+10x60"},
        quiet={bucket("0.1"): "0+10x60", bucket("5"): "0+10x60", bucket("+Inf"): "0+10x60"},
        at="20m",
    )


DRIFT_X = f'nervosum_feature_drift{{{MODEL}, feature="x", pid="11"}}'
DRIFT_Y = f'nervosum_feature_drift{{{MODEL}, feature="y", pid="11"}}'
CASES = [
    _share("NervosumHighErrorRate", _requests("500"), _requests("200")),
    _slow("NervosumHighLatency", _bucket),
    Case(
        "NervosumModelNotReady",
        firing={f"nervosum_model_ready{{{MODEL}}}": "1x5 0x60"},
        quiet={f"nervosum_model_ready{{{MODEL}}}": "1x5 0x2 1x60"},  # shorter than for:
        at="15m",
        labels={"model": "churn"},
    ),
    Case(
        "NervosumFeatureDrift",
        firing={DRIFT_X: "0.4x60", DRIFT_Y: "0.05x60"},
        quiet={DRIFT_X: "0.2x60", DRIFT_Y: "0.05x60"},
        at="40m",
        labels={"feature": "x"},
    ),
    Case(
        "NervosumPredictionDrift",
        firing={f'nervosum_prediction_drift{{{MODEL}, pid="11"}}': "0.3x60"},
        quiet={f'nervosum_prediction_drift{{{MODEL}, pid="11"}}': "0.1x60"},
        at="40m",
    ),
    Case(
        "NervosumPredictionLogDrops",
        firing={'nervosum_predlog_dropped_total{sink="jsonl"}': "0x10 5x50"},
        quiet={'nervosum_predlog_dropped_total{sink="jsonl"}': "0x60"},
        at="15m",
        labels={"sink": "jsonl"},
        per_model=False,
    ),
]


def _messages(outcome: str) -> str:
    return f'nervosum_stream_messages_total{{{MODEL}, outcome="{outcome}"}}'


def _batches(le: str) -> str:
    return f'nervosum_stream_batch_duration_seconds_bucket{{{MODEL}, le="{le}"}}'


LAG = f"nervosum_stream_consumer_lag{{{MODEL}}}"
STREAM_CASES = [
    _share("NervosumStreamDeadLetters", _messages("dead_lettered"), _messages("read")),
    _slow("NervosumStreamSlowBatches", _batches),
    Case(
        "NervosumStreamLag",  # 20000 waiting at 10 a minute, 500 waiting at 6000 a minute
        firing={LAG: "20000x60", _messages("read"): "0+10x60"},
        quiet={LAG: "500x60", _messages("read"): "0+6000x60"},
        at="20m",
    ),
    Case(
        "NervosumStreamStalled",  # messages wait; nothing read, then reads going on
        firing={LAG: "100x60", _messages("read"): "50x60"},
        quiet={LAG: "100x60", _messages("read"): "0+10x60"},
        at="15m",
    ),
    *(case for case in CASES if case.alert.endswith(("Drift", "LogDrops"))),
]


def _unit_test(watched: Watched, case: Case, fires: bool) -> dict[str, Any]:
    rule = next(rule for rule in rules(watched) if rule["alert"] == case.alert)
    series = case.firing if fires else case.quiet
    model = {"model": "churn"} if case.per_model else {}
    expected = [
        {
            "exp_labels": {**model, **case.labels, **rule["labels"]},
            "exp_annotations": rule["annotations"],
        }
    ]
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [
            {"eval_time": case.at, "alertname": case.alert, "exp_alerts": expected if fires else []}
        ],
    }


SUITES = [(WATCHED, CASES), (STREAMED, STREAM_CASES), (REPOSITORY, CASES)]
RUNS = [(watched, case) for watched, cases in SUITES for case in cases]


def _promtool_test(watched: Watched, tests: list[dict[str, Any]], folder: Path) -> None:
    """``tests`` against ``watched``'s rules file, as promtool runs them."""
    write_monitoring(watched, folder)
    suite = {"rule_files": [RULES], "evaluation_interval": "1m", "tests": tests}
    (folder / "test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    tested = promtool("test", "rules", str(folder / "test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize(
    ("watched", "case"), RUNS, ids=[f"{watched.runtime}-{case.alert}" for watched, case in RUNS]
)
def test_each_alert_fires_when_it_should_and_stays_quiet_otherwise(
    watched: Watched, case: Case, tmp_path: Path
) -> None:
    tests = [_unit_test(watched, case, fires=True), _unit_test(watched, case, fires=False)]
    _promtool_test(watched, tests, tmp_path)
    assert set(case.firing) == set(case.quiet)  # the same series, other values


@pytest.mark.parametrize(("watched", "cases"), SUITES, ids=["serve", "stream", "repo"])
def test_every_alert_has_a_case(watched: Watched, cases: list[Case]) -> None:
    assert sorted(rule["alert"] for rule in rules(watched)) == sorted(c.alert for c in cases)


def test_a_repository_alerts_for_the_failing_model_only(tmp_path: Path) -> None:
    """One rule watches every model: iris answers 10% 5xx, zeta 1%; only iris alerts."""
    rule = next(r for r in rules(REPOSITORY) if r["alert"] == "NervosumHighErrorRate")
    assert "model" not in rule["labels"]

    def requests(model: str, status: str) -> str:
        return f'nervosum_http_requests_total{{model="{model}", route="/p", status="{status}"}}'

    series = {
        requests("iris", "500"): "0+10x60",
        requests("iris", "200"): "0+90x60",
        requests("zeta", "500"): "0+1x60",
        requests("zeta", "200"): "0+99x60",
    }
    expected = {
        "exp_labels": {"model": "iris", **rule["labels"]},
        "exp_annotations": rule["annotations"],
    }
    test = {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": rule["alert"], "exp_alerts": [expected]}
        ],
    }
    _promtool_test(REPOSITORY, [test], tmp_path)


def test_a_repositorys_summaries_are_true_of_the_model_that_fires() -> None:
    """One rule fires once per model, so its summary (plain text, as promtool renders it
    above) names the repository the model belongs to and points at the ``model`` label,
    never presents the repository as the model; the log's drops, read without a
    ``model`` label, are the server's own."""
    summaries = {r["alert"]: r["annotations"]["summary"] for r in rules(REPOSITORY)}
    assert summaries["NervosumModelNotReady"] == (
        "a model of models_serve (see the model label): the model is not ready to serve"
    )
    drops = summaries.pop("NervosumPredictionLogDrops")
    assert drops.startswith("models_serve: prediction-log records")
    for summary in summaries.values():
        assert summary.startswith("a model of models_serve (see the model label): "), summary
    assert not any("{{" in summary for summary in [drops, *summaries.values()])
