"""XGBoost's native model files (``.json``, ``.ubj``), from ``Booster.save_model`` or
the scikit-learn API's ``XGBClassifier.save_model`` (the same format).

The objective says what the booster answers: ``binary:*`` and ``multi:*`` are classifiers
whose classes are ``0..k-1`` (what the scikit-learn API trains on), everything else
predicts values. ``inplace_predict`` scores the array without building a DMatrix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nervosum.model.files import ModelFile
from nervosum.model.files.calls import FileRunner, runtime_name
from nervosum.model.files.failure import require
from nervosum.model.files.features import Inputs, described, named, numbered, signed
from nervosum.model.files.last import last_read

_CLASSIFIERS = ("binary:logistic", "binary:logitraw", "multi:softprob", "multi:softmax")
# XGBoost's feature types: float, int, i (indicator), q (quantitative), c (categorical).
_TYPES = {"int": "int", "i": "bool"}


def _objective(booster: Any) -> tuple[str, int]:
    """The objective's name and the number of classes (0 for a regression)."""
    learner = json.loads(booster.save_config())["learner"]
    name = str(learner["objective"]["name"])
    classes = int(learner["learner_model_param"].get("num_class", "0") or 0)
    return name, classes


def booster_inputs(booster: Any, label: str) -> Inputs:
    """The booster's feature names and types; ``f0..`` when it was trained on an array."""
    names = booster.feature_names
    if names:
        types = [_TYPES.get(t, "float") for t in booster.feature_types or ()] or None
        return named(names, types)
    return numbered(int(booster.num_features()), label)


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-margin)))


def _softmax(margin: np.ndarray) -> np.ndarray:
    shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


class BoosterRunner(FileRunner):
    """``inplace_predict`` on one float array; class probabilities from the objective."""

    def __init__(self, booster: Any, objective: str, classes: tuple[str, ...] | None) -> None:
        super().__init__(takes="array", classes=classes, runtime=runtime_name("xgboost"))
        self._booster = booster
        self._objective = objective

    def _probabilities(self, inputs: Any) -> np.ndarray:
        if self._objective == "multi:softprob":
            return np.asarray(self._booster.inplace_predict(inputs))
        if self._objective == "binary:logistic":
            positive = np.asarray(self._booster.inplace_predict(inputs)).reshape(-1)
            return np.column_stack([1.0 - positive, positive])
        # softmax and logitraw answer a class or a margin: the probabilities are the
        # margins' softmax / sigmoid, as the softprob / logistic objectives compute them.
        margin = np.asarray(self._booster.inplace_predict(inputs, predict_type="margin"))
        if self._objective == "multi:softmax":
            return _softmax(margin)
        positive = _sigmoid(margin.reshape(-1))
        return np.column_stack([1.0 - positive, positive])

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        if self._objective not in _CLASSIFIERS:
            return np.asarray(self._booster.inplace_predict(inputs)), None
        probabilities = self._probabilities(inputs)
        predictions = probabilities.argmax(axis=1)
        return predictions, probabilities if self._wanted(proba) else None


def booster_runner(
    booster: Any, probabilities: bool
) -> tuple[BoosterRunner, tuple[str, ...] | None]:
    """The runner of a loaded Booster and the classes its objective implies."""
    objective, count = _objective(booster)
    classes = None
    if objective in _CLASSIFIERS:
        classes = tuple(str(i) for i in range(max(count, 2)))
    runner = BoosterRunner(booster, objective, classes if probabilities else None)
    return runner, classes


def _load(path: Path) -> Any:
    xgboost = require("xgboost", "xgboost")
    return xgboost.Booster(model_file=str(path))


def booster_file(
    path: Path, booster: Any, probabilities: bool, inputs: Inputs | None = None
) -> ModelFile:
    """The :class:`ModelFile` of a loaded Booster; ``inputs`` (an MLflow signature) names
    and types the booster's own features (see ``signed``)."""
    runner, classes = booster_runner(booster, probabilities)
    inputs = signed(booster_inputs(booster, path.name), inputs, path.name)
    return described(path, "xgboost", booster, runner=runner, classes=classes, inputs=inputs)


def read_xgboost(path: Path, probabilities: bool) -> ModelFile:
    """A native XGBoost file, served by XGBoost."""
    return booster_file(path, last_read(path, _load, "xgboost"), probabilities)
