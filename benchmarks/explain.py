"""Exact attributions per second for a 100-tree, 20-feature forest (issue 25).

    python benchmarks/explain.py                 # every configuration below
    python benchmarks/explain.py --seconds 5     # measure each one longer

Each forest is a scikit-learn RandomForestClassifier (100 trees, random_state=0,
n_jobs=2 to fit) trained on 10,000 rows of ``make_classification`` (20 features, 10
informative, two classes), from shallow to scikit-learn's default depth; explained
through ``nervosum.explain.explainer_for`` (nervosum's compiled path-dependent TreeSHAP,
explain/path_shap.py) in blocks of 200 rows, as the batcher would hand them over, for at
least ``--seconds``. Beside it, the same blocks through ``shap.TreeExplainer``, the
library the answers are tested against. For comparison, a 100-tree XGBoost classifier
of depth 6 on the same data goes through the booster's own contributions. Figures, not
pass/fail in CI: the machine is shared, compare rows of one run. The target is 1,000
rows/s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import shap
import xgboost
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from nervosum.explain import explainer_for

FEATURES = [f"f{i}" for i in range(20)]
TARGET = 1_000.0
BLOCK = 200
# (label, RandomForestClassifier keyword arguments)
FORESTS: list[tuple[str, dict[str, Any]]] = [
    ("max_depth=6", {"max_depth": 6}),
    ("max_depth=8", {"max_depth": 8}),
    ("max_depth=10, min_samples_leaf=5", {"max_depth": 10, "min_samples_leaf": 5}),
    ("unlimited depth, min_samples_leaf=5", {"min_samples_leaf": 5}),
    ("unlimited depth, min_samples_leaf=1 (default)", {}),
]


def rows_per_second(
    explain: Callable[[np.ndarray], Any], rows: np.ndarray, seconds: float
) -> float:
    """Explained rows per second over blocks of BLOCK rows, for at least ``seconds``."""
    explain(rows[:BLOCK])  # warm: the kernel compiles, shap reads the trees on first use
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        first = done % (len(rows) - BLOCK)
        explain(rows[first : first + BLOCK])
        done += BLOCK
    return done / (time.perf_counter() - start)


def nervosum(model: Any) -> Callable[[np.ndarray], Any]:
    """What ``nervosum batch --explain`` runs for ``model`` with one worker: every core
    (a server keeps one core per worker for its event loop)."""
    threads = len(os.sched_getaffinity(0))
    return explainer_for(model, features=FEATURES, classes=["no", "yes"], threads=threads).explain


def shap_library(model: Any) -> Callable[[np.ndarray], Any]:
    """The shap library's path-dependent TreeSHAP of the same model."""
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    return lambda rows: explainer.shap_values(rows, check_additivity=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    x, y = make_classification(n_samples=12_000, n_features=20, n_informative=10, random_state=0)
    train, rows = (x[:10_000], y[:10_000]), x[10_000:]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<50} {'nodes':>8} {'rows/s':>8} {'shap':>6}  >= {TARGET:,.0f}")
    for label, options in FORESTS:
        forest = RandomForestClassifier(100, random_state=0, n_jobs=2, **options).fit(*train)
        nodes = sum(tree.tree_.node_count for tree in forest.estimators_)
        rate = rows_per_second(nervosum(forest), rows, args.seconds)
        library = rows_per_second(shap_library(forest), rows, args.seconds)
        verdict = "PASS" if rate >= TARGET else "FAIL"
        print(f"{'forest, ' + label:<50} {nodes:>8,} {rate:>8,.0f} {library:>6,.0f}  {verdict}")
    booster = xgboost.XGBClassifier(n_estimators=100, max_depth=6, random_state=0).fit(*train)
    rate = rows_per_second(nervosum(booster), rows, args.seconds)
    verdict = "PASS" if rate >= TARGET else "FAIL"
    label = "xgboost, 100 trees, max_depth=6 (pred_contribs)"
    print(f"{label:<50} {'':>8} {rate:>8,.0f} {'':>6}  {verdict}")


if __name__ == "__main__":
    main()
