"""Find the four pieces a training project implements, where the template puts them.

The microservice template split training by role: the data engineer's ``DataLoader``
(``source/data/data_loader.py``), the data scientist's ``Preprocessor``,
``train_model`` and ``get_classes`` (``source/model/train.py``). Projects written for it
keep their files and names. Each piece is checked when training starts, so a missing
method is one message naming the file and what to write, not a traceback halfway
through a long training run.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from nervosum.errors import ModelDefinitionError
from nervosum.model.imports import import_user_module, missing_project_file
from nervosum.model.userframes import describe_user_error, user_frames

DATA_MODULE = "source.data.data_loader"
TRAIN_MODULE = "source.model.train"
PREPROCESSOR_METHODS = ("split_X_y", "fit_X", "fit_y", "process_X", "process_y")


@dataclass(frozen=True)
class Interfaces:
    """The user's objects, ready to call: a loader, a fresh preprocessor, two functions."""

    data_loader: Any
    preprocessor: Any
    train_model: Callable[[Any, Any], Any]
    get_classes: Callable[[Any], Any] | None  # required for classification only


def _file(module: ModuleType) -> str:
    return module.__file__ or module.__name__


def member(module: ModuleType, name: str, example: str) -> Any:
    value = getattr(module, name, None)
    if value is None:
        defined = [n for n in vars(module) if not n.startswith("_")]
        close = difflib.get_close_matches(name, defined, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"define `{example}`"
        raise ModelDefinitionError(f"{_file(module)} has no {name}", hint=hint)
    return value


def _instance(module: ModuleType, name: str, project_dir: Path) -> Any:
    cls = member(module, name, f"class {name}:")
    try:
        return cls()
    except Exception as exc:
        raise ModelDefinitionError(
            f"{name}() raised {describe_user_error(exc, project_dir)}",
            hint=f"{name} is created without arguments",
        ) from exc


def _require_methods(obj: Any, names: tuple[str, ...], module: ModuleType) -> None:
    label = type(obj).__name__
    for name in names:
        if not callable(getattr(obj, name, None)):
            raise ModelDefinitionError(
                f"{label} in {_file(module)} has no method {name}",
                hint=f"define `def {name}(self, ...)`; docs/training.md shows each method",
            )


def import_project_module(dotted: str, project_dir: Path) -> ModuleType:
    """Import ``dotted`` from the project; a module of the project's own packages that
    is missing is reported as the missing file it is (issue 19)."""
    try:
        return import_user_module(dotted, project_dir, project_dir)
    except ModelDefinitionError as error:
        cause = error.__cause__
        missing = (
            missing_project_file(cause, project_dir)
            if isinstance(cause, ModuleNotFoundError)
            else None
        )
        if missing is None or cause is None:
            raise
        frames = user_frames(cause, project_dir)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else dotted
        raise ModelDefinitionError(
            f"{missing} not found in {project_dir}, imported at {where}",
            hint=f"restore {missing} (the template has one), or change the import",
        ) from cause


def load_interfaces(project_dir: Path, *, classification: bool) -> Interfaces:
    """Import the project's modules and check every piece training will call."""
    data = import_project_module(DATA_MODULE, project_dir)
    loader = _instance(data, "DataLoader", project_dir)
    _require_methods(loader, ("load_data",), data)
    train = import_project_module(TRAIN_MODULE, project_dir)
    preprocessor = _instance(train, "Preprocessor", project_dir)
    _require_methods(preprocessor, PREPROCESSOR_METHODS, train)
    fit = member(train, "train_model", "def train_model(X, y):")
    classes = member(train, "get_classes", "def get_classes(model):") if classification else None
    return Interfaces(loader, preprocessor, fit, classes)
