"""Live drift (docs/monitoring.md): a served model's traffic against its reference profile,
through the ASGI app. A 0.5 standard deviation shift of one feature is caught within
2,000 rows, traffic like the reference is not; out-of-range numbers and unseen
categories are counted; the gauges exist only for a model with a reference.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from nervosum.errors import ConfigError
from nervosum.project import load_config
from nervosum.serving.app import create_app
from tests.conftest import metric_samples, nervosum

NUMBERS = ["x1", "x2", "x3"]
COLOURS = ["red", "green", "blue"]
MODEL = (
    "class Model:\n"
    "    def predict(self, frame):\n"
    "        return ['high' if v > 0 else 'low' for v in frame['x1'] + frame['x2']]\n"
)
SCHEMA = "input_schema:\n" + "".join(f"  - {{name: {n}, type: float}}\n" for n in NUMBERS)
SCHEMA += "  - {name: colour, type: string}\n"


def rows(count: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Seeded rows of the reference's distribution, ``x1`` shifted by ``shift`` sd."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(count, 3)), columns=NUMBERS)
    frame["x1"] += shift
    frame["colour"] = rng.choice(COLOURS, size=count, p=[0.5, 0.3, 0.2])
    return frame


def write_project(folder: Path, monitoring: str | None = "{reference: reference.csv}") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL)
    rows(5000, seed=0).to_csv(folder / "reference.csv", index=False)
    block = f"monitoring: {monitoring}\n" if monitoring else ""
    (folder / "nervosum.yaml").write_text(
        f"name: drifty\nmodel: {{module: model, class: Model}}\n{SCHEMA}{block}"
    )
    return folder


def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``check()``'s first truthy answer, polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def drift(client: TestClient, rows_expected: int | None = None) -> dict[str, Any]:
    """``/info``'s drift once the profile is ready (and the window holds the rows)."""

    def ready() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get("/info").json().get("drift") or {}  # 503: loading
        done = found.get("status") == "ready"
        if done and (rows_expected is None or found["rows"] >= rows_expected):
            return found
        return None

    return dict(until(ready))


def send(client: TestClient, frame: pd.DataFrame, per_request: int = 100) -> None:
    records = frame.to_dict("records")
    for start in range(0, len(records), per_request):
        answer = client.post("/predict", json=records[start : start + per_request])
        assert answer.status_code == 200, answer.text


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    project = load_config(write_project(tmp_path / "drifty"))
    with TestClient(create_app(project)) as served:
        drift(served)  # the profile is made in the background once the model loads
        yield served


def test_a_half_sd_shift_of_one_feature_is_major_drift_within_2000_rows(
    client: TestClient,
) -> None:
    send(client, rows(2000, seed=1, shift=0.5))
    figures = drift(client, 2000)
    assert figures["features"]["x1"]["psi"] > 0.25
    assert figures["features"]["x1"]["level"] == "major"
    for name in ("x2", "x3", "colour"):
        assert figures["features"][name]["psi"] < 0.1, name


def test_traffic_like_the_reference_shows_no_drift(client: TestClient) -> None:
    send(client, rows(2000, seed=2))
    figures = drift(client, 2000)
    assert {name: f["psi"] < 0.1 for name, f in figures["features"].items()} == dict.fromkeys(
        [*NUMBERS, "colour"], True
    )
    assert figures["prediction"]["psi"] < 0.1
    assert figures["reference"]["rows"] == 5000
    assert figures["reference"]["features"] == 4
    assert figures["reference"]["source"] == "reference.csv"
    assert (figures["window"], figures["window_seconds"]) == (2000, None)


def test_out_of_range_numbers_and_unseen_categories_are_shares(client: TestClient) -> None:
    frame = rows(800, seed=3)
    frame.loc[:199, "x3"] = 1e6  # a quarter above the reference's maximum
    frame.loc[:399, "colour"] = "purple"  # half never seen in the reference
    send(client, frame)
    figures = drift(client, 800)
    assert figures["features"]["x3"]["out_of_range"] == pytest.approx(0.25)
    assert figures["features"]["x1"]["out_of_range"] < 0.01
    assert figures["features"]["colour"]["unseen"] == pytest.approx(0.5)
    assert figures["features"]["colour"]["psi"] > 0.25  # (other) was 0 in the reference


def test_predictions_drift_when_what_the_model_answers_changes(client: TestClient) -> None:
    send(client, rows(2000, seed=4, shift=1.5))
    figures = drift(client, 2000)
    assert figures["prediction"]["psi"] > 0.25


def test_the_gauges_are_exported_with_a_reference(client: TestClient) -> None:
    send(client, rows(2000, seed=5, shift=0.5))
    drift(client, 2000)

    def exported() -> dict[Any, float]:
        return dict(metric_samples(client, "nervosum_feature_drift"))

    by_feature = {dict(k)["feature"]: v for k, v in until(exported).items()}
    assert by_feature["x1"] > 0.25 and by_feature["x2"] < 0.1
    assert set(metric_samples(client, "nervosum_prediction_drift").values()) != set()
    out_of_range = metric_samples(client, "nervosum_feature_out_of_range")
    assert {dict(k)["feature"] for k in out_of_range} == set(NUMBERS)
    unseen = metric_samples(client, "nervosum_feature_unseen")
    assert {dict(k)["feature"] for k in unseen} == {"colour"}


def test_without_a_reference_there_is_no_drift(tmp_path: Path) -> None:
    project = load_config(write_project(tmp_path / "plain", monitoring=None))
    with TestClient(create_app(project)) as served:
        until(lambda: served.get("/health/ready").status_code == 200)
        send(served, rows(200, seed=6))
        time.sleep(0.6)  # two samples of the live gauges
        assert "drift" not in served.get("/info").json()
        text = served.get("/metrics").text
    assert "feature_drift" not in text and "prediction_drift" not in text
    assert served.app.state.nervosum.drift is None  # type: ignore[attr-defined]


def test_a_missing_reference_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "bad", monitoring="{reference: nowhere.csv}")
    with pytest.raises(ConfigError, match=r"monitoring\.reference.*nowhere\.csv"):
        create_app(load_config(folder))
    for extra in ([], ["--workers", "2"]):  # one error before forking, not one per worker
        result = nervosum("serve", str(folder), "--port", "0", *extra, env=dict(os.environ))
        assert result.returncode == 2, result.stderr
        assert "monitoring.reference" in result.stderr
        assert "nowhere.csv" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_window_of_few_rows_has_no_psi_yet(client: TestClient) -> None:
    """The PSI of a few dozen rows drawn from the reference itself is about 1: a quiet
    worker would read as major drift. Shares are known from the first row."""
    send(client, rows(100, seed=5))
    figures = drift(client, 100)
    assert figures["features"]["x1"]["psi"] is None
    assert figures["features"]["x3"]["out_of_range"] is not None


def test_a_time_window_is_stated_in_info_and_takes_its_share(tmp_path: Path) -> None:
    """``monitoring.window: 10m``: /info states the span and the rows it may keep, and a
    refresh keeps its share of them (100,000 rows over 600 s: 167 a second), not a
    burst's every row."""
    folder = write_project(tmp_path / "timed", monitoring="{reference: reference.csv, window: 10m}")
    with TestClient(create_app(load_config(folder))) as served:
        drift(served)
        send(served, rows(600, seed=7))
        figures = drift(served, 100)
    assert (figures["window"], figures["window_seconds"]) == (100_000, 600)
    assert 100 <= figures["rows"] < 600  # a refresh's share (or two), not the burst
    assert figures["features"]["x1"]["psi"] is None  # under 500 values: not yet known
