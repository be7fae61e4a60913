"""What every model-file runner has in common: the properties the :class:`Runner`
protocol reads, fixed when the file is read. Each format's runner adds its ``run``."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from nervosum.model.runner import Takes


def runtime_name(module: str, shown: str | None = None) -> str:
    """``xgboost 3.0.2``: the library's name and the version of its loaded module (the
    distribution's name varies: ``xgboost-cpu`` installs ``xgboost``)."""
    version = getattr(importlib.import_module(module), "__version__", "")
    return f"{shown or module} {version}".strip()


class FileRunner(ABC):
    """A :class:`~nervosum.model.runner.Runner` of a model file's original library."""

    def __init__(self, *, takes: Takes, classes: tuple[str, ...] | None, runtime: str) -> None:
        self._takes: Takes = takes
        self._classes = classes
        self._runtime = runtime

    @property
    def takes(self) -> Takes:
        return self._takes

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.float64)

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self._classes

    @property
    def runtime(self) -> str:
        return self._runtime

    @property
    def thread_safe(self) -> bool:
        return False  # the libraries' own objects are called from the model thread only

    @abstractmethod
    def run(self, inputs: Any, proba: bool) -> tuple[Any, np.ndarray | None]:
        """(one prediction per row, probabilities when ``proba`` and a classifier)."""

    def _wanted(self, proba: bool) -> bool:
        return proba and self._classes is not None
