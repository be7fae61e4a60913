"""`nervosum monitoring` and `nervosum deploy --monitoring` as users run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import iris_copy, nervosum


def test_a_folder_that_is_not_a_project_is_one_line_and_a_hint(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    for source in (str(tmp_path), str(tmp_path / "missing" / "x.pkl"), "nope:v9"):
        ran = nervosum("monitoring", source, "-o", str(tmp_path / "out"), env=home_env)
        assert ran.returncode == 2, ran.stderr
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("error: "), ran.stderr
        assert lines[1].startswith("hint: "), ran.stderr
    assert not (tmp_path / "out").exists()


def test_monitoring_writes_a_stable_dashboard_and_rules(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    project = iris_copy(tmp_path, "iris")
    for out in ("a", "b"):
        ran = nervosum("monitoring", str(project), "-o", str(tmp_path / out), env=home_env)
        assert ran.returncode == 0, ran.stderr
    for name in ("dashboard.json", "alerts.rules.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    board = json.loads((tmp_path / "a" / "dashboard.json").read_text())
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "model"]
    assert "Predictions/s per class" in {panel["title"] for panel in board["panels"]}


@pytest.mark.slow
def test_deploy_monitoring_adds_the_rule_and_the_dashboard(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    project = iris_copy(tmp_path, "iris")
    built = nervosum("build", str(project), "--no-image", "-q", env=home_env)
    assert built.returncode == 0, built.stderr
    out = tmp_path / "k8s"
    ran = nervosum("deploy", "-n", "iris", "--monitoring", "-o", str(out), env=home_env)
    assert ran.returncode == 0, ran.stderr
    rule = yaml.safe_load((out / "prometheusrule-iris.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == yaml.safe_load((out / "monitoring" / "alerts.rules.yaml").read_text())
    assert (out / "monitoring" / "dashboard.json").is_file()
    plain = nervosum("deploy", "-n", "iris", "--dry-run", env=home_env)
    assert "PrometheusRule" not in plain.stdout
    chart = tmp_path / "chart"
    helm = nervosum(
        "deploy", "-n", "iris", "--monitoring", "--target", "helm", "-o", str(chart), env=home_env
    )
    assert helm.returncode == 0, helm.stderr
    rule = (chart / "templates" / "prometheusrule.yaml").read_text().splitlines()
    # Rendered only on a cluster that knows the kind: without the Prometheus Operator the
    # release would otherwise fail as a whole.
    assert (
        rule[0]
        == '{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule" }}'
    )
    assert rule[-1] == "{{- end }}" and "kind: PrometheusRule" in rule
