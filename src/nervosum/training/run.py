"""One training run: load -> split -> hold out -> fit -> process -> train -> measure.

The order is the microservice template's ``Model.train`` with one addition: rows are
held out before anything is fitted, so the preprocessor never sees the test rows and
the reported figures are honest. The test rows are scored through the
:class:`TrainedModel` itself, the same ``predict`` the server calls. Every call into the
user's code that raises becomes one message naming the step and the user's line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from nervosum.config.types import canonical_type
from nervosum.errors import ModelDefinitionError, NervosumError, RequestError
from nervosum.model.userframes import describe_user_error
from nervosum.training.artifact import TrainedModel, library_versions
from nervosum.training.features import FeatureSpec, load_features
from nervosum.training.interfaces import load_interfaces
from nervosum.training.scores import holdout_scores, sklearn_module

T = TypeVar("T")


@dataclass(frozen=True)
class Training:
    """A finished run: the artifact to save and what the run did."""

    artifact: TrainedModel
    features: FeatureSpec
    rows: int
    stratified: bool
    output_type: str  # the schema type of the model's predictions
    inputs: pd.DataFrame  # every loaded row's features, as served: live drift's reference


class UserCalls:
    """Calls into the project's code; what they raise becomes one readable error."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir

    def __call__(self, label: str, func: Callable[..., T], *args: Any) -> T:
        try:
            return func(*args)
        except NervosumError:
            raise
        except Exception as exc:
            raise ModelDefinitionError(
                f"{label} raised {describe_user_error(exc, self.project_dir)}"
            ) from exc


def column(values: Any, label: str) -> np.ndarray:
    """A target as one flat column (the template passes y around as a one-column frame)."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ModelDefinitionError(
                f"{label} returned {values.shape[1]} target columns",
                hint="return the target as a one-column DataFrame (df[[target]])",
            )
        values = values.iloc[:, 0]
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ModelDefinitionError(f"{label} returned a target of shape {array.shape}")
    return array


def loaded_frame(frame: Any) -> pd.DataFrame:
    """What ``DataLoader.load_data`` returned, when it is a frame of two rows or more."""
    if not isinstance(frame, pd.DataFrame) or len(frame) < 2:
        shown = (
            f"{len(frame)} rows" if isinstance(frame, pd.DataFrame) else f"a {type(frame).__name__}"
        )
        raise ModelDefinitionError(
            f"DataLoader.load_data returned {shown}",
            hint="return a DataFrame of the features and the target, at least two rows",
        )
    return frame


def _features_of(X: Any, features: FeatureSpec) -> pd.DataFrame:
    """X with exactly the features of features.yaml, in its order: the served frame's shape."""
    if not isinstance(X, pd.DataFrame):
        raise ModelDefinitionError(
            f"Preprocessor.split_X_y returned X as a {type(X).__name__}",
            hint="return X as a DataFrame of the features listed in features.yaml",
        )
    columns = [str(c) for c in X.columns]
    missing = [n for n in features.names if n not in columns]
    extra = [c for c in columns if c not in features.names]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"lacks {missing}")
        if extra:
            problems.append(f"has columns features.yaml does not list: {extra}")
        raise ModelDefinitionError(
            f"X from Preprocessor.split_X_y {' and '.join(problems)}",
            hint="requests carry exactly the features of features.yaml: list or drop columns",
        )
    return X[features.names]


def _split_X_y(result: Any, features: FeatureSpec) -> tuple[pd.DataFrame, Any]:
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise ModelDefinitionError(
            "Preprocessor.split_X_y must return two values, X and y",
            hint="return df[features], df[[target]]",
        )
    X = _features_of(result[0], features)
    y = result[1]
    if not hasattr(y, "__len__") or isinstance(y, str | bytes):
        raise ModelDefinitionError(
            f"Preprocessor.split_X_y returned y as a {type(y).__name__}",
            hint="return the target as a one-column DataFrame: df[features], df[[target]]",
        )
    if len(y) != len(X):
        raise ModelDefinitionError(
            f"Preprocessor.split_X_y returned {len(X)} rows of X and {len(y)} of y"
        )
    return X, y


def held_out(
    X: pd.DataFrame, y: Any, *, test_size: float, seed: int, stratify: np.ndarray | None
) -> tuple[list[Any], bool]:
    """Train and test parts, stratified by class when every class has rows enough."""
    train_test_split = sklearn_module("model_selection").train_test_split
    if stratify is not None:
        try:
            parts = train_test_split(
                X, y, test_size=test_size, random_state=seed, stratify=stratify
            )
        except ValueError:
            pass  # a class too rare to appear on both sides: split without it
        else:
            return parts, True
    try:
        return train_test_split(X, y, test_size=test_size, random_state=seed), False
    except ValueError as exc:
        raise RequestError(
            f"{len(X)} rows cannot be split into training and test rows: {exc}",
            hint="load more rows (--n-rows) or change --test-size",
        ) from None


def _output_type(predicted: np.ndarray, features: FeatureSpec) -> str:
    if not features.is_classification:
        return "float"
    try:
        return canonical_type(str(pd.Series(predicted).dtype))
    except ValueError:
        return "str"


def _trained(model: Any, features: FeatureSpec) -> Any:
    if not callable(getattr(model, "predict", None)):
        raise ModelDefinitionError(
            f"train_model returned a {type(model).__name__}, which has no predict method",
            hint="return the fitted model",
        )
    if features.is_classification and not callable(getattr(model, "predict_proba", None)):
        raise ModelDefinitionError(
            f"train_model returned a {type(model).__name__}, which has no predict_proba",
            hint="a classification model gives class probabilities: wrap it in "
            "sklearn.calibration.CalibratedClassifierCV, or set task: regression",
        )
    return model


def _class_names(returned: Any) -> list[str]:
    """What ``get_classes`` returned, as a list of names; a readable error for anything
    that is not a sequence of names."""
    if returned is None or isinstance(returned, str | bytes | dict):
        raise ModelDefinitionError(
            "get_classes returned "
            + ("None" if returned is None else f"a {type(returned).__name__}"),
            hint="return a list of class names: [str(c) for c in model.classes_]",
        )
    try:
        values = list(returned)
    except TypeError:
        raise ModelDefinitionError(
            f"get_classes returned a {type(returned).__name__}, not a list of class names",
            hint="return a list of class names: [str(c) for c in model.classes_]",
        ) from None
    return [str(c) for c in values]


def probability_check(proba: Any, classes: list[str], model: Any) -> None:
    shape = np.shape(proba)
    if len(shape) != 2:
        raise ModelDefinitionError(
            f"predict_proba of {type(model).__name__} (returned by train_model) gave an array"
            f" of shape {shape}, not one row per test row and one column per class",
            hint="train_model must return a fitted classifier whose predict_proba returns"
            " (rows, classes) probabilities",
        )
    columns = shape[-1]
    if columns != len(classes):
        raise ModelDefinitionError(
            f"get_classes returned {len(classes)} names for {columns} probability columns",
            hint="return one name per predict_proba column, in its order: "
            "[str(c) for c in model.classes_]",
        )


def train_project(
    project_dir: str | Path, *, n_rows: int | None = None, test_size: float = 0.2, seed: int = 0
) -> Training:
    """Train the project in ``project_dir`` on its data, holding out ``test_size`` of the
    rows (split with ``seed``) to measure it; nothing is written."""
    root = Path(project_dir).resolve()
    features = load_features(root)
    code = load_interfaces(root, classification=features.is_classification)
    call = UserCalls(root)
    frame = loaded_frame(call("DataLoader.load_data", code.data_loader.load_data, n_rows))
    pre = code.preprocessor
    X, y = _split_X_y(call("Preprocessor.split_X_y", pre.split_X_y, frame), features)
    labels = column(y, "Preprocessor.split_X_y") if features.is_classification else None
    (X_train, X_test, y_train, y_test), stratified = held_out(
        X, y, test_size=test_size, seed=seed, stratify=labels
    )
    call("Preprocessor.fit_X", pre.fit_X, X_train)
    call("Preprocessor.fit_y", pre.fit_y, y_train)
    processed_X = call("Preprocessor.process_X", pre.process_X, X_train)
    processed_y = call("Preprocessor.process_y", pre.process_y, y_train)
    model = _trained(call("train_model", code.train_model, processed_X, processed_y), features)
    classes = None
    if code.get_classes is not None:
        classes = _class_names(call("get_classes", code.get_classes, model))
    artifact = TrainedModel(
        preprocessor=pre,
        model=model,
        task=features.task,
        classes=classes,
        features=features.model_dump(mode="json", exclude_none=True),
    )
    predicted = column(call("predicting the test rows", artifact.predict, X_test), "predict")
    truth = column(call("Preprocessor.process_y", pre.process_y, y_test), "process_y")
    if classes is not None:
        probability_check(
            call("predict_proba on the test rows", artifact.predict_proba, X_test),
            classes,
            model,
        )
    artifact.metrics = {
        **holdout_scores(features.task, truth, predicted),
        "train_rows": len(X_train),
        "test_rows": len(X_test),
    }
    artifact.versions = library_versions(model)
    return Training(
        artifact=artifact,
        features=features,
        rows=len(X),
        stratified=stratified,
        output_type=_output_type(predicted, features),
        inputs=X,
    )
