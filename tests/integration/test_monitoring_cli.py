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


def test_for_stream_watches_the_worker_and_a_folder_of_models_is_a_repository(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    project = iris_copy(tmp_path, "iris")
    ran = nervosum(
        "monitoring", str(project), "--for", "stream", "-o", str(tmp_path / "s"), env=home_env
    )
    assert ran.returncode == 0, ran.stderr
    board = json.loads((tmp_path / "s" / "dashboard.json").read_text())
    assert board["uid"] == "nervosum-iris-stream"
    assert "Messages/s by outcome" in {panel["title"] for panel in board["panels"]}
    rules = yaml.safe_load((tmp_path / "s" / "alerts.rules.yaml").read_text())
    assert "NervosumStreamLag" in {rule["alert"] for rule in rules["groups"][0]["rules"]}

    repo = tmp_path / "models_serve"
    iris_copy(repo, "iris")
    (repo / "broken").mkdir()
    (repo / "broken" / "etls.py").write_text("class transform_predict:\n    x = [1, 2\n")
    ran = nervosum("monitoring", str(repo), "-o", str(tmp_path / "r"), env=home_env)
    assert ran.returncode == 0, ran.stderr
    board = json.loads((tmp_path / "r" / "dashboard.json").read_text())
    assert board["title"] == "nervosum: models_serve-repo"
    model = board["templating"]["list"][1]
    assert model["current"]["value"] == "$__all" and model["includeAll"]
    rules = yaml.safe_load((tmp_path / "r" / "alerts.rules.yaml").read_text())
    assert all("model" not in rule["labels"] for rule in rules["groups"][0]["rules"])

    for source, runtime in ((project, "serve-repo"), (repo, "stream")):
        out = str(tmp_path / "x")
        ran = nervosum("monitoring", str(source), "--for", runtime, "-o", out, env=home_env)
        assert ran.returncode == 2, ran.stderr
        assert ran.stderr.startswith("error: ") and "hint: " in ran.stderr


@pytest.mark.slow
def test_deploy_monitoring_watches_a_stream_bundle_and_a_repository(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    project = iris_copy(tmp_path, "iris_stream", mode="stream")
    built = nervosum("build", str(project), "--no-image", "-q", env=home_env)
    assert built.returncode == 0, built.stderr
    found: dict[str, set[str]] = {}
    for kind, more in (("stream", ()), ("repo", ("--repo", "https://git.example/t/models.git"))):
        out = tmp_path / kind
        ran = nervosum(
            "deploy", "-n", "iris_stream", *more, "--monitoring", "-o", str(out), env=home_env
        )
        assert ran.returncode == 0, ran.stderr
        rules = yaml.safe_load((out / "monitoring" / "alerts.rules.yaml").read_text())
        found[kind] = {rule["alert"] for rule in rules["groups"][0]["rules"]}
    assert "NervosumStreamStalled" in found["stream"] and "NervosumModelNotReady" in found["repo"]
