"""Infer the nervosum.yaml of a folder that has none, from what the folder holds.

Each detector is a module here exposing ``detect(folder: Path) -> dict[str, Any] | None``:
None when the folder is not of its kind, else the nervosum.yaml mapping as plain data (a
detector raises :class:`ConfigError` when the folder is of its kind but unusable, naming
the file at fault). They are tried in order, the most specific first, and the first
mapping wins. ``nervosum init --detect`` writes the mapping; loading a folder without
nervosum.yaml uses it directly, so writing it is never required.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nervosum.detect import function, mlflow, model_file, template
from nervosum.errors import ConfigError, ConfigIssue

Detector = Callable[[Path], dict[str, Any] | None]

# (kind, detector, what it looks for), in the order they are tried: a template checkout
# also holds Python modules, so the template goes first; an MLflow folder may hold the
# code of a custom pyfunc, so it goes before the module-level predict; a module's predict
# often loads a pickle beside it, so a lone model file is the model only when no code is.
DETECTORS: tuple[tuple[str, Detector, str], ...] = (
    ("template", template.detect, f"a microservice-template checkout ({template.MODEL_SOURCE})"),
    ("mlflow", mlflow.detect, f"an MLflow model folder ({mlflow.MLMODEL})"),
    ("function", function.detect, "a Python module with a module-level `def predict(data)`"),
    ("model_file", model_file.detect, "one model file (.joblib, .pkl, .onnx, .ubj, ...)"),
)


@dataclass(frozen=True)
class Detected:
    """A folder's inferred nervosum.yaml and the kind of folder it was recognised as."""

    kind: str
    config: dict[str, Any]

    @property
    def basis(self) -> str:
        """What the settings were inferred from, for messages naming the folder."""
        if self.kind == "template":
            return f"its microservice-template files ({template.SETTINGS_FILE}, source/)"
        if self.kind == "mlflow":
            return f"its MLflow {mlflow.MLMODEL} file"
        if self.kind == "model_file":
            return f"its model file {self.config['model']['artifact']}"
        return f"the module-level predict(data) of {self.config['model']['module']}"


def infer(folder: Path) -> Detected | None:
    """The first detector's mapping for ``folder``, or None when none recognises it (the
    fallback of a folder without nervosum.yaml, which then reports the missing file)."""
    for kind, detect, _ in DETECTORS:
        config = detect(folder)
        if config is not None:
            return Detected(kind, config)
    return None


def detect_project(folder: Path) -> Detected:
    """The first detector's mapping for ``folder``; a ConfigError naming what was looked
    for when none recognises it."""
    detected = infer(folder)
    if detected is not None:
        return detected
    looked_for = " or ".join(looks_for for _, _, looks_for in DETECTORS)
    issue = ConfigIssue(
        "",
        f"no nervosum.yaml, and nothing nervosum recognises: looked for {looked_for}",
        None,
        "write a nervosum.yaml, see docs/config.md; `nervosum init NAME` makes an example",
    )
    raise ConfigError(str(folder), [issue])
