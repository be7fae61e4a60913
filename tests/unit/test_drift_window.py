"""The live drift window (drift/window.py) and the profile it compares against, without a
server: the window rolls, a time window forgets what aged out (its clock passed in), a
profile survives JSON, evaluate and the window share bins; ``monitoring.window`` takes
rows or a duration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nervosum.config.duration import duration_seconds
from nervosum.config.monitoring import MonitoringSpec
from nervosum.drift.profile import Distribution, Profile
from nervosum.drift.psi import category_counts, numeric_counts, top_categories
from nervosum.drift.window import DriftWindow
from nervosum.errors import ConfigError
from nervosum.project import load_config
from tests.conftest import ProjectFactory

MODEL = "name: demo\nmodel: {module: model, class: Model}\n"


def _profile(size: int = 5000) -> Profile:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=size), "flag": rng.random(size) < 0.3})
    return Profile(
        features={
            "x": Distribution.of(reference["x"], categorical=False),
            "flag": Distribution.of(reference["flag"], categorical=True),
        },
        prediction=None,
        prediction_field="prediction",
        rows=size,
        made=0.0,
        source="reference.csv",
    )


def _records(count: int, seed: int, shift: float) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(shift, 1, count), "flag": rng.random(count) < 0.3})
    return list(frame.to_dict("records"))


def test_the_window_rolls_over_its_latest_rows() -> None:
    window = DriftWindow(_profile(), size=1000)
    window.observe(_records(1500, seed=1, shift=1.0), [])
    shifted = window.refresh(now=10.0)
    assert shifted is not None and shifted["features"]["x"]["psi"] > 0.25
    assert shifted["rows"] == 1000
    assert window.refresh(now=10.5) is None  # at most once a second
    for start in range(0, 1000, 10):  # many small requests replace every shifted row
        window.observe(_records(10, seed=2 + start, shift=0.0), [])
    calm = window.refresh(now=12.0)
    assert calm is not None and calm["features"]["x"]["psi"] < 0.1
    assert calm["features"]["flag"]["psi"] < 0.1
    assert calm["features"]["flag"]["unseen"] == 0.0
    assert calm["prediction"] is None


def test_a_time_window_forgets_rows_older_than_its_seconds_without_traffic() -> None:
    window = DriftWindow(_profile(), size=36_000, seconds=60)  # 600 rows a second
    window.observe(_records(600, seed=1, shift=1.0), [])
    first = window.refresh(now=100.0)
    assert first is not None and first["rows"] == 600 and first["window_seconds"] == 60
    assert first["features"]["x"]["psi"] > 0.25
    window.observe(_records(600, seed=2, shift=0.0), [])
    assert window.refresh(now=130.0) is not None
    assert window.refresh(now=159.0) is None  # nothing arrived, nothing aged out yet
    calm = window.refresh(now=160.0)  # the shifted rows are 60 s old: gone, traffic or not
    assert calm is not None and calm["rows"] == 600
    assert calm["features"]["x"]["psi"] < 0.1 and calm["features"]["flag"]["unseen"] == 0.0
    empty = window.refresh(now=190.0)
    assert empty is not None and empty["rows"] == 0
    assert empty["features"]["x"] == {"psi": None, "level": None, "out_of_range": None}
    assert window.refresh(now=300.0) is None  # an empty window has nothing to forget


def test_a_time_window_falls_below_the_least_rows_as_it_ages() -> None:
    window = DriftWindow(_profile(), size=10_000, seconds=10)
    for second in range(5):  # 150 rows a second, for five seconds
        window.observe(_records(150, seed=second, shift=0.0), [])
        window.refresh(now=1.0 + second)
    full = window.report
    assert full["rows"] == 750 and full["features"]["x"]["psi"] is not None
    thinned = window.refresh(now=12.5)  # the first two seconds' rows aged out
    assert thinned is not None and thinned["rows"] == 450
    assert thinned["features"]["x"]["psi"] is None  # below 500 values, as a young window
    assert thinned["features"]["x"]["out_of_range"] is not None


def test_a_time_window_takes_rows_at_the_rate_they_age_out() -> None:
    window = DriftWindow(_profile(), size=1000, seconds=100)  # 10 rows a second
    assert window.intake == 10
    window.observe(_records(800, seed=1, shift=1.0), [])  # one big request: 10 kept
    assert window.refresh(now=1.0) is not None and window.report["rows"] == 10
    counts = []
    now = 1.0
    for step in range(240):  # 100 one-row requests a refresh, refreshed every 1.25 s
        for row in _records(100, seed=step, shift=0.0):
            window.observe([row], [])
        now += 1.25
        window.refresh(now=now)
        counts.append(window.report["rows"])
    assert window.intake == 13  # 1.25 s's share of 1,000 rows over 100 s, rounded up
    assert counts[30] < 500  # a young window fills at its rate, not from one second
    steady = counts[100:]  # past 100 s: as many enter as age out, no saw-tooth
    assert max(steady) <= 1000 and min(steady) >= 1000 - 2 * 13
    assert window.report["features"]["x"]["psi"] < 0.1  # the shifted rows aged out
    assert window.refresh(now=now + 101) is not None and window.report["rows"] == 0


def test_requests_past_a_refreshs_intake_keep_nothing() -> None:
    window = DriftWindow(_profile(), size=1000)
    for request in range(10):  # the first five fill the intake: shifted rows only
        window.observe(_records(200, seed=request, shift=1.0 if request < 5 else 0.0), [])
    report = window.refresh(now=10.0)
    assert report is not None and report["rows"] == 1000
    assert report["features"]["x"]["psi"] > 0.25
    window.observe(_records(200, seed=11, shift=0.0), [])  # a new refresh, a new intake
    assert window.refresh(now=11.0) is not None and window.report["rows"] == 1000


def test_a_window_of_rows_never_ages() -> None:
    window = DriftWindow(_profile(), size=1000)
    window.observe(_records(600, seed=1, shift=0.0), [])
    report = window.refresh(now=10.0)
    assert report is not None and report["window_seconds"] is None
    assert window.refresh(now=1_000_000.0) is None
    assert window.report["rows"] == 600


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2d", 172_800), ("0s", 0)],
)
def test_durations_are_read_as_prometheus_writes_them(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "10 parsecs", "1.5h", "30m1h", "-5m", "PT10M"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(text)


def test_monitoring_window_takes_rows_or_a_duration(make_project: ProjectFactory) -> None:
    def spec(window: str, name: str) -> MonitoringSpec:
        project = make_project(MODEL + f"monitoring: {{window: {window}}}\n", name=name)
        return load_config(project).config.monitoring

    rows = spec("5000", "rows")
    assert (rows.window_rows, rows.window_seconds) == (5000, None)
    timed = spec("1h30m", "timed")
    assert (timed.window_rows, timed.window_seconds) == (100_000, 5400)
    assert MonitoringSpec().window_rows == 2000


@pytest.mark.parametrize(
    ("window", "complaint"),
    [
        ("'10 parsecs'", "or a duration such as 30s, 10m or 1h30m, not '10 parsecs'"),
        ("'5'", "or a duration such as 30s, 10m or 1h30m, not '5'"),
        ("0", "window must be 100 to 1,000,000 rows or a duration"),
        ("-10", "window must be 100 to 1,000,000 rows or a duration"),
        ("0s", "a time window must be longer than 0s"),
    ],
)
def test_monitoring_window_refusals_name_the_key(
    make_project: ProjectFactory, window: str, complaint: str
) -> None:
    project = make_project(MODEL + f"monitoring:\n  window: {window}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(project)
    message = str(caught.value)
    assert ":4: monitoring.window: " in message and complaint in message


def test_a_feature_missing_from_traffic_has_no_figures_yet() -> None:
    window = DriftWindow(_profile(), size=100)
    window.observe([{"x": 0.5}], [])
    report = window.refresh(now=5.0)
    assert report is not None
    assert report["features"]["flag"] == {"psi": None, "level": None, "unseen": None}


def test_a_profile_survives_json() -> None:
    profile = _profile()
    again = Profile.from_dict(profile.to_dict())
    assert again.summary() == profile.summary()
    for name, distribution in profile.features.items():
        copy = again.features[name]
        assert copy.kind == distribution.kind
        np.testing.assert_allclose(copy.shares, distribution.shares)
        np.testing.assert_allclose(copy.edges, distribution.edges)
        assert copy.seen == distribution.seen


def test_bool_categories_are_read_as_text_alike_in_reference_and_traffic() -> None:
    reference = pd.Series([True, False, True, None])
    assert top_categories(reference) == ["True", "False"]
    assert category_counts(["True", "False"], pd.Series([True, "False", "other"])).tolist() == [
        1,
        1,
        1,
    ]
    assert numeric_counts(np.array([0.0]), pd.Series([-1.0, 0.0, np.nan])).tolist() == [1, 1]


def test_a_flag_or_small_count_stored_as_numbers_shows_its_shift() -> None:
    """Deciles of a 0/1 column are 0 and 1: one bin, and no shift would ever show.
    Few distinct values are binned one value each."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": (rng.random(5000) < 0.3).astype(int)})
    profile = Profile(
        features={"x": Distribution.of(reference["x"], categorical=False)},
        prediction=None,
        prediction_field="prediction",
        rows=5000,
        made=0.0,
        source="reference.csv",
    )
    for share, low, high in ((0.3, 0.0, 0.1), (0.9, 0.25, np.inf)):
        window = DriftWindow(profile, size=2000)
        ones = rng.random(2000) < share
        window.observe([{"x": int(one)} for one in ones], [])
        report = window.refresh(now=10.0)
        assert report is not None
        assert low <= report["features"]["x"]["psi"] < high, share
