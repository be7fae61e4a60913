"""Background rows for a sampled explanation, drawn from the reference profile.

A model without trees is explained against typical inputs. ``monitoring.background``
and ``monitoring.reference`` name files of real rows (model/explaining.py reads them);
without either, a bundle or a trained model still has its reference profile, and this
module draws rows from it: each feature independently, a bin by its share and a value
uniformly inside it (a column profiled one value per bin, such as a flag, takes only its
values; a boolean its two). Drawn independently, rows lose the features' correlations,
so the estimate is the interventional one over the marginals; a background file of real
rows is better, and docs/monitoring.md says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nervosum.drift.profile import Distribution, Profile, kept_profile
from nervosum.engine import Engine

__all__ = ["attach_background", "profile_rows"]

_TRUTH = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}


def attach_background(engine: Engine) -> None:
    """Let ``engine``'s explainer draw its background from the profile a bundle keeps or
    ``nervosum train`` left, when the project names no file of rows."""
    path = kept_profile(engine.project)
    if path is None:
        return

    def rows(features: Sequence[str], count: int) -> np.ndarray | None:
        return profile_rows(Profile.read(path), features, count)

    engine.explainer.profile_rows = rows


def profile_rows(
    profile: Profile, features: Sequence[str], count: int, seed: int = 0
) -> np.ndarray | None:
    """``count`` rows of ``features`` drawn from ``profile`` (seeded: the same rows each
    time); None when a feature is not in it or has no numeric values."""
    rng = np.random.default_rng(seed)
    columns = []
    for name in features:
        distribution = profile.features.get(name)
        column = _drawn(distribution, count, rng) if distribution is not None else None
        if column is None:
            return None
        columns.append(column)
    return np.column_stack(columns) if columns else None


def _drawn(distribution: Distribution, count: int, rng: np.random.Generator) -> np.ndarray | None:
    shares = distribution.shares / distribution.shares.sum()
    if distribution.numeric:
        if distribution.values:
            return rng.choice(np.asarray(distribution.values), size=count, p=shares)
        bins = rng.choice(len(shares), size=count, p=shares)
        lows = np.concatenate([[distribution.low], distribution.edges])[bins]
        highs = np.concatenate([distribution.edges, [distribution.high]])[bins]
        return rng.uniform(lows, highs)
    # A boolean is profiled as the categories "True" / "False"; other text has no numbers.
    numbers = [_TRUTH.get(category.lower()) for category in distribution.categories]
    if not numbers or None in numbers:
        return None
    kept = shares[: len(numbers)]  # the (other) bin, if any, holds no value
    return rng.choice(np.asarray(numbers, dtype=float), size=count, p=kept / kept.sum())
