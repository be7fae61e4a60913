"""What a bundle needs installed to load its model file, besides the project's own list.

A model file is read by its own library and, unless ``model.compile`` is ``off``, run by
ONNX Runtime after a conversion at load; so a bundle of an XGBoost file carries xgboost,
onnxmltools, ONNX Runtime and skl2onnx without the user listing them. Each library is
named by the distribution installed here (``xgboost-cpu`` provides ``xgboost`` as well
as ``xgboost`` does), so the bundle pins what the model was tested with.
"""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from packaging.requirements import Requirement

from nervosum.config import Project

# The modules each format is read (and converted) with.
_READERS = {
    "sklearn": ("sklearn", "joblib"),
    "xgboost": ("xgboost", "onnxmltools"),
    "lightgbm": ("lightgbm", "onnxmltools"),
    "onnx": (),
    "mlflow": ("mlflow", "skops"),
}
_COMPILERS = ("onnxruntime", "skl2onnx")


def _distribution(module: str, installed: dict[str, list[str]]) -> str:
    """The installed distribution that provides ``module`` (the module's name when none
    does: pip then downloads it under that name)."""
    providers = installed.get(module)
    return providers[0] if providers else module


def model_requirements(project: Project) -> list[Requirement]:
    """The libraries that read the project's model file, and ONNX Runtime with them."""
    from nervosum.model.files.formats import detect_format

    spec = project.config.model
    if spec is None or spec.artifact is None:
        return []
    path = project.src_dir / spec.artifact
    form = spec.format or detect_format(path)
    if form is None:
        return []
    modules = list(_READERS.get(form, ()))
    if form == "onnx" or spec.compile.mode != "off":
        modules.extend(_COMPILERS)
    installed = dict(md.packages_distributions())  # reads every installed RECORD: once
    return [Requirement(_distribution(m, installed)) for m in dict.fromkeys(modules)]


def model_requirements_file(project: Project) -> Path | None:
    """The requirements MLflow wrote beside the model (``requirements.txt`` in the model
    folder), the bundle's list when nervosum.yaml names none."""
    from nervosum.model.files.formats import MLMODEL, detect_format

    spec = project.config.model
    if spec is None or spec.artifact is None:
        return None
    path = project.src_dir / spec.artifact
    if (spec.format or detect_format(path)) != "mlflow":
        return None
    folder = path.parent if path.name == MLMODEL else path
    written = folder / "requirements.txt"
    return written if written.is_file() else None
