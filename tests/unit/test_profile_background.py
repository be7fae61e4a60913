"""Background rows drawn from a reference profile (drift/background.py), for sampled
explanations of a model whose project names no file of rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nervosum.drift.background import profile_rows
from nervosum.drift.profile import Distribution, Profile


def _profile(frame: pd.DataFrame, categorical: tuple[str, ...] = ()) -> Profile:
    features = {
        name: Distribution.of(frame[name], categorical=name in categorical)
        for name in frame.columns
    }
    body = Profile(features, None, "prediction", len(frame), 0.0, "test").to_dict()
    return Profile.from_dict(body)  # through the file's format, as a bundle reads it


def test_rows_follow_each_features_bins_values_and_range() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "x": rng.normal(10, 2, 5000),
            "flag": (rng.random(5000) < 0.2).astype(int),
            "count": rng.integers(0, 4, 5000),
            "yes": rng.random(5000) < 0.7,
        }
    )
    rows = profile_rows(_profile(frame, categorical=("yes",)), ["x", "flag", "count", "yes"], 4000)
    assert rows is not None and rows.shape == (4000, 4)
    x, flag, count, yes = rows.T
    assert frame["x"].min() <= x.min() and x.max() <= frame["x"].max()
    assert abs(np.median(x) - frame["x"].median()) < 0.2
    assert set(np.unique(flag)) == {0.0, 1.0} and abs(flag.mean() - 0.2) < 0.03
    assert set(np.unique(count)) == {0.0, 1.0, 2.0, 3.0}
    assert set(np.unique(yes)) == {0.0, 1.0} and abs(yes.mean() - 0.7) < 0.03


def test_the_same_rows_each_time_in_the_asked_order() -> None:
    frame = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0) * -1})
    profile = _profile(frame)
    first = profile_rows(profile, ["b", "a"], 50)
    assert first is not None and (first[:, 0] <= 0).all() and (first[:, 1] >= 0).all()
    np.testing.assert_array_equal(first, profile_rows(profile, ["b", "a"], 50))


def test_a_feature_without_numbers_or_missing_gives_none() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0] * 10, "word": ["x", "y", "z"] * 10})
    profile = _profile(frame, categorical=("word",))
    assert profile_rows(profile, ["a", "word"], 10) is None
    assert profile_rows(profile, ["a", "elsewhere"], 10) is None


def test_a_profile_written_before_values_were_kept_draws_inside_the_bins() -> None:
    frame = pd.DataFrame({"flag": [0, 1] * 50})
    body = _profile(frame).to_dict()
    del body["features"]["flag"]["values"]
    rows = profile_rows(Profile.from_dict(body), ["flag"], 100)
    assert rows is not None and rows.min() >= 0.0 and rows.max() <= 1.0
