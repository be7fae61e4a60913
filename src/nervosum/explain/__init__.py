"""Per-feature attributions of a model's predictions (issue 25).

Tree models get exact TreeSHAP: XGBoost and LightGBM through their own contribution
output (in margin space), scikit-learn forests and gradient boosting through nervosum's
compiled kernel, histogram gradient boosting through the ``shap`` library. Any other
model gets a sampled permutation estimate over a background set, bounded in time.
``shap``, ``numba``, ``xgboost`` and ``lightgbm`` are imported only when a model that
needs them is explained.
"""

from nervosum.explain.attributions import Attributions, Explainer
from nervosum.explain.choose import exact_explainer, explainer_for, sampled_explainer

__all__ = ["Attributions", "Explainer", "exact_explainer", "explainer_for", "sampled_explainer"]
