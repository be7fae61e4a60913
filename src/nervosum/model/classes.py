"""Whether a loaded object is a classifier, and its class labels in probability order.

scikit-learn answers for its own estimators; for other objects (a pickled class of the
user's, a model file's runner) a ``predict_proba`` plus class labels make a classifier.
"""

from __future__ import annotations

from typing import Any


def class_names(obj: Any) -> tuple[str, ...] | None:
    for attr in ("classes_", "classes"):
        value = getattr(obj, attr, None)
        if value is not None and not callable(value):
            try:
                return tuple(str(c) for c in value)
            except TypeError:
                continue
    return None


def is_classifier(obj: Any) -> bool:
    """scikit-learn's own answer for its estimators; for other objects, proba + class names."""
    duck = callable(getattr(obj, "predict_proba", None)) and class_names(obj) is not None
    try:
        from sklearn.base import BaseEstimator, is_classifier
    except ImportError:  # pragma: no cover - sklearn is optional
        return duck
    if isinstance(obj, BaseEstimator):
        return bool(is_classifier(obj)) or duck
    return duck
