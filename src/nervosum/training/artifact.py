"""The one file ``nervosum train`` saves, and the object it holds.

A :class:`TrainedModel` carries everything needed to answer a request and to say who
answered: the fitted preprocessor and model, the class names, a uuid and creation time,
the feature schema it was trained on, its test metrics and the library versions. It is a
class of nervosum (importable wherever nervosum is installed), so the saved file serves
through the ordinary ``model: {artifact: ...}`` form: it has ``predict``,
``predict_proba`` and ``classes_`` like a scikit-learn classifier, and ``id`` /
``creation_time`` like the microservice template's ``Model``, which the model's identity
already reads.
"""

from __future__ import annotations

import os
import platform
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any, BinaryIO

from nervosum.errors import ModelDefinitionError, RequestError

# The libraries a trained model's behaviour depends on, recorded with the artifact so a
# different environment at serve time can be spotted.
_LIBRARIES = ("nervosum", "numpy", "pandas", "scikit-learn", "joblib")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class TrainedModel:
    """A preprocessor and a model trained together, with their provenance."""

    preprocessor: Any
    model: Any
    task: str
    classes: list[str] | None
    features: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    id: str = field(default_factory=_new_id)
    creation_time: str = field(default_factory=_now)

    @property
    def classes_(self) -> list[str] | None:
        """The class names, in the order of :meth:`predict_proba`'s columns (None for a
        regression, so nervosum serves it without probabilities)."""
        return self.classes

    def predict(self, X: Any) -> Any:
        """What the model predicts for the raw feature frame ``X``."""
        return self.model.predict(self.preprocessor.process_X(X))

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities for ``X``, one column per name of :attr:`classes_`."""
        if self.classes is None:
            raise TypeError(f"a {self.task} model has no class probabilities")
        return self.model.predict_proba(self.preprocessor.process_X(X))


def library_versions(model: Any) -> dict[str, str]:
    """Python's version and the installed versions of the libraries the model depends on,
    including the distribution that defines the model's class (lightgbm, xgboost, ...)."""
    names = list(_LIBRARIES)
    root = type(model).__module__.split(".")[0]
    names.extend(d for d in packages_distributions().get(root, []) if d not in names)
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def save_artifact(artifact: TrainedModel, path: Path) -> None:
    """Write ``artifact`` to ``path`` atomically: a server loading the old file while the
    new one is written never reads half of it."""
    try:
        import joblib
    except ImportError:
        raise RequestError(
            "nervosum train saves models with joblib, which is not installed",
            hint="pip install 'nervosum[sklearn]'",
        ) from None
    write_atomically(path, lambda out: joblib.dump(artifact, out), "the trained model")


def write_atomically(path: Path, write: Callable[[BinaryIO], object], what: str) -> None:
    """Write ``path`` through ``write`` (given the open file) atomically: a reader of the
    old file never sees half of the new one, and a failed write leaves no partial file.
    A failure is a :class:`ModelDefinitionError` saying ``what`` could not be saved (a
    model that cannot be pickled is the usual cause)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as out:
            write(out)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise ModelDefinitionError(
            f"{what} could not be saved: {type(exc).__name__}: {exc}",
            hint="keep lambdas, open files and connections out of Preprocessor and the model",
        ) from exc
    os.replace(partial, path)
