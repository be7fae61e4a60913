"""The original call of a scikit-learn-API estimator (scikit-learn itself, and XGBoost's
and LightGBM's scikit-learn classes): ``predict`` and, for a classifier, ``predict_proba``.

An estimator takes one float64 array in schema order (no DataFrame per batch) when that
is sure to mean what a DataFrame would: scikit-learn's own numeric transformers and
estimators, with numeric inputs. A ColumnTransformer selects columns by name, an encoder
sees text, a FunctionTransformer runs the user's code on whatever it is given: those
take a DataFrame.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nervosum.errors import ModelDefinitionError
from nervosum.model.classes import class_names, is_classifier
from nervosum.model.files import ModelFile
from nervosum.model.files.calls import FileRunner, runtime_name
from nervosum.model.files.features import Inputs, described, estimator_inputs, signed
from nervosum.model.files.pickled import load_pickle
from nervosum.model.runner import Takes

# Estimators fitted on a DataFrame warn on every array call; the array is in the
# DataFrame's column order, so the warning says nothing here.
_NAMES_WARNING = "X does not have valid feature names"
# Libraries whose estimators take a numeric array as their DataFrame, by top-level module.
_ARRAY_LIBRARIES = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm"}
_FRAME_STEPS = {"ColumnTransformer", "FunctionTransformer", "OneHotEncoder", "OrdinalEncoder"}
_FRAME_STEPS |= {"TargetEncoder", "DictVectorizer", "FeatureHasher"}


def _library(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def _array_safe(obj: Any) -> bool:
    """Whether ``obj`` (and every step inside it) is a library estimator that reads a
    numeric array the way it reads the DataFrame it was fitted on."""
    if _library(obj) not in _ARRAY_LIBRARIES or type(obj).__name__ in _FRAME_STEPS:
        return False
    steps = getattr(obj, "steps", None)  # Pipeline
    parts = getattr(obj, "transformer_list", None)  # FeatureUnion
    inner = [step for _, step in steps or parts or ()]
    return all(step == "passthrough" or step is None or _array_safe(step) for step in inner)


def takes_arrays(model: Any, inputs: Inputs) -> bool:
    """Array when the estimator is array-safe and every input is a number."""
    return inputs.numeric and _array_safe(model)


def runtime_of(obj: Any) -> str:
    """``scikit-learn 1.5.2``, ``xgboost 2.1.1``, ...: the library that runs ``obj``."""
    library = _library(obj)
    return runtime_name(library, _ARRAY_LIBRARIES.get(library))


class EstimatorRunner(FileRunner):
    """``predict`` (and ``predict_proba`` when asked, for a classifier) on one batch."""

    def __init__(self, model: Any, *, takes: Takes, classes: tuple[str, ...] | None) -> None:
        super().__init__(takes=takes, classes=classes, runtime=runtime_of(model))
        self._model = model

    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        predictions = self._model.predict(inputs)
        if not self._wanted(proba):
            return predictions, None
        return predictions, np.asarray(self._model.predict_proba(inputs))


def estimator_runner(model: Any, inputs: Inputs, probabilities: bool) -> EstimatorRunner:
    """The runner of a loaded estimator: arrays when safe, probabilities for a classifier
    when ``probabilities`` (``model.probabilities``) is on."""
    takes: Takes = "array" if takes_arrays(model, inputs) else "frame"
    if takes == "array":
        warnings.filterwarnings("ignore", message=_NAMES_WARNING, category=UserWarning)
    classes = class_names(model) if probabilities and is_classifier(model) else None
    return EstimatorRunner(model, takes=takes, classes=classes)


def estimator_file(
    path: Path, model: Any, probabilities: bool, inputs: Inputs | None = None
) -> ModelFile:
    """The :class:`ModelFile` of a loaded scikit-learn-API estimator; ``inputs`` (an
    MLflow signature) names and types what the estimator knows (see ``signed``)."""
    if not callable(getattr(model, "predict", None)):
        raise ModelDefinitionError(
            f"artifact {path.name} holds a {type(model).__name__}, which has no predict method",
            hint="save the fitted estimator or pipeline itself",
        )
    inputs = signed(estimator_inputs(model, path.name), inputs, path.name)
    runner = estimator_runner(model, inputs, probabilities)
    classes = class_names(model) if is_classifier(model) else None
    return described(path, "sklearn", model, runner=runner, classes=classes, inputs=inputs)


def read_sklearn(path: Path, project_dir: Path, src_dir: Path, probabilities: bool) -> ModelFile:
    """A pickled scikit-learn-API estimator (joblib, pickle, cloudpickle)."""
    return estimator_file(path, load_pickle(path, project_dir, src_dir), probabilities)
