"""What `nervosum monitoring` reads of a project before it renders anything: the
dashboard's uid per model and runtime, live drift from a kept reference profile, and
``monitoring.alerts.not_ready_for`` spelled as every duration of nervosum.yaml."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from nervosum.config.alerts import AlertsSpec
from nervosum.config.duration import duration_seconds
from nervosum.deploy.alerts import rules
from nervosum.deploy.dashboard import dashboard
from nervosum.deploy.watch import REPO, SERVER, STREAM, Watched, watched
from nervosum.drift.profile import PROFILE_FILE
from nervosum.project import load_config
from tests.conftest import ProjectFactory
from tests.integration.test_monitoring_rules import WATCHED

UID = re.compile(r"[A-Za-z0-9_-]{1,40}")
LONG = "customer-churn-gradient-boosting-v2"
DRIFT_PANELS = {"Feature drift (PSI)", "Prediction drift (PSI)", "Out of range and unseen"}
DRIFT_ALERTS = {"NervosumFeatureDrift", "NervosumPredictionDrift"}


def _uid(model: str, runtime: str = SERVER) -> str:
    uid = dashboard(replace(WATCHED, model=model, runtime=runtime))["uid"]
    assert isinstance(uid, str) and UID.fullmatch(uid), uid
    return uid


def test_a_short_name_keeps_its_readable_uid() -> None:
    assert [_uid("iris", runtime) for runtime in (SERVER, STREAM, REPO)] == [
        "nervosum-iris",
        "nervosum-iris-stream",
        "nervosum-iris-repo",
    ]


@pytest.mark.parametrize("model", [LONG, "a" * 31, "b" * 200, "https://git.example/t/models.git"])
def test_each_runtime_of_a_long_name_has_its_own_uid(model: str) -> None:
    """Cut to 40 characters, the suffix made the three uids one: the dashboards of a
    model's server, worker and repository overwrote each other in Grafana."""
    uids = [_uid(model, runtime) for runtime in (SERVER, STREAM, REPO)]
    assert len(set(uids)) == 3, uids
    assert uids[1].endswith("-stream") and uids[2].endswith("-repo")


def test_long_names_that_start_alike_have_their_own_uids() -> None:
    first, second = LONG + "-europe-and-the-americas", LONG + "-europe-and-the-americas-2"
    for runtime in (SERVER, STREAM, REPO):
        assert _uid(first, runtime) != _uid(second, runtime)
        assert _uid(first, runtime) == _uid(first, runtime)  # stable: re-imports replace


MODEL = "class Model:\n    def predict(self, frame):\n        return []\n"


def _trained(make_project: ProjectFactory, name: str = "trained") -> Path:
    """A project whose model artifact has the profile `nervosum train` (or `nervosum
    notebooks build`) leaves beside it, and no monitoring.reference."""
    return make_project(
        f"name: {name}\nmodel: {{artifact: model_bin/est.joblib}}\n",
        {"model_bin/est.joblib": "not read here", f"model_bin/{PROFILE_FILE}": "{}"},
        name=name,
    )


def _drift_shown(source: Watched) -> tuple[bool, bool]:
    titles = {panel["title"] for panel in dashboard(source)["panels"]}
    alerts = {rule["alert"] for rule in rules(source)}
    return titles >= DRIFT_PANELS, alerts >= DRIFT_ALERTS


def test_a_trained_profile_without_a_reference_gets_the_drift_panels_and_alerts(
    make_project: ProjectFactory,
) -> None:
    project = load_config(_trained(make_project))
    assert project.config.monitoring.reference is None
    assert _drift_shown(watched(project)) == (True, True)
    assert _drift_shown(watched(project, STREAM)) == (True, True)
    assert _drift_shown(watched(project.config)) == (False, False)  # a config alone


def test_a_bundles_profile_beside_app_gets_the_drift_panels_and_alerts(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    app = make_project(
        "name: built\nmodel: {module: model, class: Model}\n",
        {"model.py": MODEL},
        name="bundle/app",
    )
    assert _drift_shown(watched(load_config(app))) == (False, False)  # not a bundle yet
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    assert _drift_shown(watched(load_config(app))) == (False, False)  # a bundle, no profile
    (tmp_path / "bundle" / PROFILE_FILE).write_text("{}")
    assert _drift_shown(watched(load_config(app))) == (True, True)


@pytest.mark.parametrize("spelled", ["90s", "10m", "1h30m", "2d", "1d12h"])
def test_not_ready_for_reads_every_duration_of_nervosum_yaml(spelled: str) -> None:
    spec = AlertsSpec(not_ready_for=spelled)
    assert duration_seconds(spec.not_ready_for) > 0
    held = {rule["alert"]: rule["for"] for rule in rules(replace(WATCHED, alerts=spec))}
    assert held["NervosumModelNotReady"] == spelled  # Prometheus' for: takes it as it is


@pytest.mark.parametrize("spelled", ["5", "", "1m30h", "90ms", "1w", "1y", "5 m"])
def test_not_ready_for_refuses_what_no_duration_key_reads(spelled: str) -> None:
    with pytest.raises(ValidationError, match="not a duration such as 30s"):
        AlertsSpec(not_ready_for=spelled)
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(spelled)
