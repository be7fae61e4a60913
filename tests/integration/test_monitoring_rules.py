"""The alert rules `nervosum monitoring` writes, judged by Prometheus' own promtool: they
load (`promtool check rules`, as a rules file and as a PrometheusRule's spec), and each
alert fires on series that should fire it and stays quiet on series that should not
(`promtool test rules`, a unit-test file per alert written here)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from nervosum.config.alerts import AlertsSpec
from nervosum.deploy.alerts import rule_object, rules
from nervosum.deploy.monitoring_files import RULES, write_monitoring
from nervosum.deploy.watch import CLASSES, Watched
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
MODEL = 'model="churn"'


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


def test_rules_file_and_prometheus_rule_pass_promtool_check(tmp_path: Path) -> None:
    written = write_monitoring(WATCHED, tmp_path / "out")
    checked = promtool("check", "rules", str(written[1]))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
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
    severity), and series that do not."""

    alert: str
    firing: dict[str, str]
    quiet: dict[str, str]
    at: str
    labels: dict[str, str] = field(default_factory=dict)


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


DRIFT_X = f'nervosum_feature_drift{{{MODEL}, feature="x", pid="11"}}'
DRIFT_Y = f'nervosum_feature_drift{{{MODEL}, feature="y", pid="11"}}'
CASES = [
    Case(
        "NervosumHighErrorRate",
        firing={_requests("500"): "0+10x60", _requests("200"): "0+90x60"},  # 10%
        quiet={_requests("500"): "0+1x60", _requests("200"): "0+99x60"},  # 1%
        at="20m",
    ),
    Case(
        "NervosumHighLatency",  # every request between 0.1 and 5 s, then under 0.1 s
        firing={_bucket("0.1"): "0x60", _bucket("5"): "0+10x60", _bucket("+Inf"): "0+10x60"},
        quiet={_bucket("0.1"): "0+10x60", _bucket("5"): "0+10x60", _bucket("+Inf"): "0+10x60"},
        at="20m",
    ),
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
    ),
]


def _unit_test(case: Case, fires: bool) -> dict[str, Any]:
    rule = next(rule for rule in rules(WATCHED) if rule["alert"] == case.alert)
    series = case.firing if fires else case.quiet
    expected = [
        {
            "exp_labels": {**case.labels, **rule["labels"]},
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


@pytest.mark.parametrize("case", CASES, ids=[case.alert for case in CASES])
def test_each_alert_fires_when_it_should_and_stays_quiet_otherwise(
    case: Case, tmp_path: Path
) -> None:
    write_monitoring(WATCHED, tmp_path)
    suite = {
        "rule_files": [RULES],
        "evaluation_interval": "1m",
        "tests": [_unit_test(case, fires=True), _unit_test(case, fires=False)],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    tested = promtool("test", "rules", str(tmp_path / "test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    assert set(case.firing) == set(case.quiet)  # the same series, other values


def test_every_alert_has_a_case() -> None:
    assert sorted(rule["alert"] for rule in rules(WATCHED)) == sorted(c.alert for c in CASES)
