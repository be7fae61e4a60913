"""The live drift window (drift/window.py) and the profile it compares against, without a
server: the window rolls, a profile survives JSON, evaluate and the window share bins."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nervosum.drift.profile import Distribution, Profile
from nervosum.drift.psi import category_counts, numeric_counts, top_categories
from nervosum.drift.window import DriftWindow


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
