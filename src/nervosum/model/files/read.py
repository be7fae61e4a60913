"""The public entry point of model files: recognise, read, and infer the nervosum.yaml.

Each format has its module (``pickled`` / ``sklearn_runner``, ``xgboost_file``,
``lightgbm_file``, ``mlflow_folder``; ONNX files are read by ``nervosum.model.compile``).
Whatever a library raises while reading becomes one :class:`ModelDefinitionError` line
naming the file, the format tried and the library's error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nervosum.config.spec import name_from
from nervosum.errors import ModelDefinitionError, NervosumError
from nervosum.model.files import Feature, ModelFile
from nervosum.model.files.failure import unreadable
from nervosum.model.files.formats import MLMODEL, detect_format

__all__ = ["detect_format", "infer_mapping", "read_model_file"]


def _read(
    path: Path, kind: str, project_dir: Path, src_dir: Path, probabilities: bool
) -> ModelFile:
    if kind == "sklearn":
        from nervosum.model.files.sklearn_runner import read_sklearn

        return read_sklearn(path, project_dir, src_dir, probabilities)
    if kind == "xgboost":
        from nervosum.model.files.xgboost_file import read_xgboost

        return read_xgboost(path, probabilities)
    if kind == "lightgbm":
        from nervosum.model.files.lightgbm_file import read_lightgbm

        return read_lightgbm(path, probabilities)
    if kind == "onnx":
        from nervosum.model.compile.onnx_file import read_onnx_file

        return read_onnx_file(path)
    from nervosum.model.files.mlflow_folder import read_mlflow

    return read_mlflow(path, probabilities)


def _unknown(path: Path) -> ModelDefinitionError:
    if not path.exists():
        return ModelDefinitionError(f"{path}: no such file or folder")
    if path.is_dir():
        return ModelDefinitionError(
            f"{path}: a folder without {MLMODEL} is not a model file",
            hint="name the model file in it, or the folder of an MLflow model",
        )
    return ModelDefinitionError(
        f"{path.name}: not a scikit-learn pickle, XGBoost, LightGBM or ONNX file"
        f" (the suffix {path.suffix or '(none)'!r} and the first bytes say neither)",
        hint="set model.format (sklearn, xgboost, lightgbm, onnx, mlflow) if it is one",
    )


def read_model_file(
    path: Path,
    format: str | None = None,
    *,
    project_dir: Path,
    src_dir: Path,
    probabilities: bool = True,
) -> ModelFile:
    """Load ``path`` with its own library (``format`` overrides what its suffix and first
    bytes say); the runner is that library's call. ``probabilities`` false: the runner
    never computes class probabilities (``model.probabilities: false``)."""
    kind = format or detect_format(path)
    if kind is None:
        raise _unknown(path)
    try:
        return _read(path, kind, project_dir, src_dir, probabilities)
    except NervosumError:
        raise
    except Exception as exc:  # the library's own error, whatever its type
        raise unreadable(path, kind, exc) from exc


def _fields(features: tuple[Feature, ...]) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.type} for f in features]


def infer_mapping(path: Path, format: str | None = None) -> dict[str, Any]:
    """The nervosum.yaml a model file (or an MLflow model folder) implies, relative to
    its folder: the name, the artifact, the schema the file describes, the requirements
    an MLflow folder lists. The file is read to learn them, and read again for free."""
    folder = path if path.is_dir() else path.parent
    read = read_model_file(path, format, project_dir=folder, src_dir=folder)
    artifact = MLMODEL if path.is_dir() else path.name
    model: dict[str, Any] = {"artifact": artifact}
    if format is not None:
        model["format"] = format
    stem = folder.name if artifact == MLMODEL else path.stem
    mapping: dict[str, Any] = {"name": name_from(stem), "model": model}
    if read.requirements is not None:
        mapping["requirements"] = read.requirements.name
    if read.features is not None:
        mapping["input_schema"] = _fields(read.features)
    if read.outputs is not None:
        mapping["output_schema"] = _fields(read.outputs)
    return mapping
