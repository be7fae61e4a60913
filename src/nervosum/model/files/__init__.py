"""Model files served as they are: scikit-learn pickles, native XGBoost and LightGBM
files, ONNX files and MLflow model folders.

:func:`read_model_file` recognises the format (or takes it from ``model.format``), loads
the file with its own library and says what the file knows about the model: feature
names and types, classes, an input example, the requirements written beside it. Nothing
from a request is ever unpickled; only the file the project names is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nervosum.model.runner import Runner


@dataclass(frozen=True)
class Feature:
    """One input (or output) column as the file describes it, in nervosum's type names
    (``float``, ``int``, ``str``, ``bool``)."""

    name: str
    type: str


@dataclass(frozen=True)
class ModelFile:
    """What a model file holds and what it says about itself."""

    path: Path  # the file, or the MLflow model folder
    format: str  # sklearn | xgboost | lightgbm | onnx | mlflow
    flavor: str  # the MLflow flavor served (python_function, sklearn, ...); else the format
    model: Any  # the loaded object: estimator, Booster, ONNX bytes, pyfunc model
    runner: Runner  # the original library's call
    features: tuple[Feature, ...] | None  # None when the file does not say
    named: bool  # False when the names are made up (f0..fN)
    classes: tuple[str, ...] | None = None
    outputs: tuple[Feature, ...] | None = None  # MLflow signature outputs
    example: list[dict[str, Any]] | None = None  # MLflow input example rows
    requirements: Path | None = None  # MLflow requirements.txt
    notes: tuple[str, ...] = field(default=())  # said once in the startup log
