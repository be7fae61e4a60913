"""``nervosum build`` keeps the reference profile in the bundle: the bundle serves live
drift without the reference file, and its model card (served, and from ``nervosum
inspect``) shows it; a bad ``monitoring.reference`` fails the build (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nervosum.drift.profile import PROFILE_FILE
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import nervosum
from tests.integration.test_live_drift import drift, rows, send, write_project

pytestmark = pytest.mark.slow


def test_the_profile_made_at_build_is_served_without_the_reference(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    folder = write_project(tmp_path / "drifty")
    built = nervosum("build", str(folder), "--no-image", "-q", env=home_env)
    assert built.returncode == 0, built.stderr
    bundle = Path(home_env["NERVOSUM_HOME"]) / "bundles" / built.stdout.strip()
    again = nervosum("build", str(folder), "--no-image", "-q", env=home_env)
    assert again.stdout == built.stdout  # the profile says when it was made: not in the id
    assert f"COPY {PROFILE_FILE} /bundle/" in (bundle / "Dockerfile").read_text()
    profile = json.loads((bundle / PROFILE_FILE).read_text())
    assert set(profile["features"]) == {"x1", "x2", "x3", "colour"}
    assert sorted(profile["prediction"]["categories"]) == ["high", "low"]
    (bundle / "app" / "reference.csv").unlink()  # the training data is not needed

    with TestClient(create_app(load_config(bundle))) as client:
        assert drift(client)["reference"]["rows"] == 5000
        send(client, rows(2000, seed=1, shift=0.5))
        assert drift(client, 2000)["features"]["x1"]["psi"] > 0.25
        served = client.get("/card").json()

    inspected = nervosum("inspect", built.stdout.strip(), env=home_env)
    assert inspected.returncode == 0, inspected.stderr
    card = json.loads(inspected.stdout)["card"]
    assert card["version"] == served["version"] and card["id"] == built.stdout.strip()
    assert card["reference"] == served["reference"]  # the bundle's profile, both ways
    assert card["reference"]["rows"] == 5000 and card["dependencies"]["nervosum"]


def test_a_bad_reference_fails_the_build_naming_the_key(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    folder = write_project(tmp_path / "bad", monitoring="{reference: missing.parquet}")
    result = nervosum("build", str(folder), "--no-image", "-q", env=home_env)
    assert result.returncode == 2
    assert "monitoring.reference" in result.stderr
    assert "missing.parquet" in result.stderr
