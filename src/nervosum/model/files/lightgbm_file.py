"""LightGBM's native text model files (``Booster.save_model``, also what
``LGBMClassifier.booster_.save_model`` writes).

The objective the file records says what it answers: ``binary``, ``multiclass`` and
``multiclassova`` are classifiers with classes ``0..k-1`` whose ``predict`` gives the
probabilities; every other objective predicts values. LightGBM names the columns of a
booster trained on an array ``Column_0..``: those are made-up names, served as ``f0..``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from nervosum.model.files import ModelFile
from nervosum.model.files.calls import FileRunner, runtime_name
from nervosum.model.files.failure import require
from nervosum.model.files.features import Inputs, described, named, numbered, signed
from nervosum.model.files.last import last_read

_CLASSIFIERS = ("binary", "multiclass", "multiclassova")
_MADE_UP = re.compile(r"Column_\d+")


def booster_inputs(booster: Any, label: str) -> Inputs:
    """The booster's feature names; ``f0..`` when it only has LightGBM's ``Column_N``."""
    names = [str(n) for n in booster.feature_name()]
    if names and not all(_MADE_UP.fullmatch(n) for n in names):
        return named(names)
    return numbered(int(booster.num_feature()), label)


class BoosterRunner(FileRunner):
    """``Booster.predict`` on one float array: probabilities for a classifier."""

    def __init__(self, booster: Any, objective: str, classes: tuple[str, ...] | None) -> None:
        super().__init__(takes="array", classes=classes, runtime=runtime_name("lightgbm"))
        self._booster = booster
        self._objective = objective

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        answer = np.asarray(self._booster.predict(inputs))
        if self._objective not in _CLASSIFIERS:
            return answer, None
        if answer.ndim == 1:  # binary: the positive class's probability
            answer = np.column_stack([1.0 - answer, answer])
        predictions = answer.argmax(axis=1)
        return predictions, answer if self._wanted(proba) else None


def booster_runner(
    booster: Any, probabilities: bool
) -> tuple[BoosterRunner, tuple[str, ...] | None]:
    """The runner of a loaded Booster and the classes its objective implies."""
    objective = str(booster.params.get("objective", "regression")).split()[0]
    classes = None
    if objective in _CLASSIFIERS:
        classes = tuple(str(i) for i in range(max(booster.num_model_per_iteration(), 2)))
    runner = BoosterRunner(booster, objective, classes if probabilities else None)
    return runner, classes


def _load(path: Path) -> Any:
    lightgbm = require("lightgbm", "lightgbm")
    return lightgbm.Booster(model_file=str(path))


def booster_file(
    path: Path, booster: Any, probabilities: bool, inputs: Inputs | None = None
) -> ModelFile:
    """The :class:`ModelFile` of a loaded Booster; ``inputs`` (an MLflow signature) names
    and types the booster's own features (see ``signed``)."""
    runner, classes = booster_runner(booster, probabilities)
    inputs = signed(booster_inputs(booster, path.name), inputs, path.name)
    return described(path, "lightgbm", booster, runner=runner, classes=classes, inputs=inputs)


def read_lightgbm(path: Path, probabilities: bool) -> ModelFile:
    """A native LightGBM file, served by LightGBM."""
    return booster_file(path, last_read(path, _load, "lightgbm"), probabilities)
