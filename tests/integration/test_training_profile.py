"""`nervosum train` leaves live drift's reference profile (docs/training.md,
docs/monitoring.md): made from the rows `DataLoader.load_data` gave and the trained
model's predictions on them, beside the artifact, where `serve` reads it and `build`
keeps it in the bundle; a project naming `monitoring.reference` gets none."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from nervosum.cli import main
from nervosum.drift.profile import PROFILE_FILE, Profile, project_profile
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import IRIS_SETOSA
from tests.integration.test_live_drift import until
from tests.integration.test_training import engine_for, regression_project

pytestmark = pytest.mark.slow


def train(project: Path) -> str:
    result = CliRunner().invoke(main, ["train", str(project)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_profiles_the_loaded_rows_for_serve_and_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the prediction log's relative path lands here
    project = regression_project(tmp_path / "widths")
    out = train(project)
    path = project / "model_bin" / PROFILE_FILE
    assert f"wrote {PROFILE_FILE} (live drift's reference: the 150 rows)" in out
    profile = Profile.read(path)
    assert profile.rows == 150 and profile.source == "nervosum train: DataLoader.load_data"
    assert set(profile.features) == {"sepal_length", "sepal_width", "petal_length"}
    assert profile.prediction is not None and profile.prediction_field == "petal_width"
    config = load_config(project)
    built = project_profile(config)  # what `nervosum build` keeps in the bundle
    assert built is not None and built.to_dict() == profile.to_dict()

    row = {k: v for k, v in IRIS_SETOSA.items() if k != "petal_width"}
    with TestClient(create_app(config, engine=engine_for(project))) as client:
        drift = until(lambda: client.get("/info").json().get("drift", {}).get("status") == "ready")
        assert drift
        # A window's PSI needs 500 values (docs/monitoring.md, "Live drift").
        assert client.post("/predict", json=[row] * 500).status_code == 200

        def figures() -> dict[str, object] | None:
            found = client.get("/info").json()["drift"]
            return found if found["rows"] == 500 else None

        served = until(figures)
    assert served["reference"]["source"] == profile.source
    assert served["features"]["sepal_length"]["psi"] > 0.25  # setosas only are not iris


def test_a_named_reference_wins_and_train_writes_no_profile(tmp_path: Path) -> None:
    project = regression_project(tmp_path / "named")
    (project / "reference.csv").write_text("sepal_length,sepal_width,petal_length\n5,3,1\n")
    config = project / "nervosum.yaml"
    config.write_text(config.read_text() + "monitoring: {reference: reference.csv}\n")
    out = train(project)
    assert "wrote" not in out
    assert not (project / "model_bin" / PROFILE_FILE).exists()
