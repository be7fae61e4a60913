"""The one-line error of a model file that cannot be read, and of a missing extra."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from nervosum.errors import ModelDefinitionError

_LONGEST = 300  # characters of a library's message kept in the line

# format -> what the message calls it, the library that reads it, the extra that installs it
LIBRARIES = {
    "sklearn": ("scikit-learn pickle", "joblib", "sklearn"),
    "xgboost": ("XGBoost model", "xgboost", "xgboost"),
    "lightgbm": ("LightGBM model", "lightgbm", "lightgbm"),
    "onnx": ("ONNX model", "onnxruntime", "sklearn"),
    "mlflow": ("MLflow model", "mlflow", "mlflow"),
}


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, cut to a readable length (library messages span
    lines: a C++ backtrace from XGBoost, a protobuf dump from ONNX Runtime)."""
    text = " ".join(str(exc).split())
    if len(text) > _LONGEST:
        text = text[: _LONGEST - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unreadable(path: Path, format: str, exc: BaseException) -> ModelDefinitionError:
    """``model.json: not a readable XGBoost model (xgboost: XGBoostError: ...)``."""
    what, library, _ = LIBRARIES[format]
    return ModelDefinitionError(
        f"{path.name}: not a readable {what} ({library}: {one_line(exc)})",
        hint=f"save it with {library} itself, or set model.format if it is another kind of file",
    )


def require(module: str, format: str) -> ModuleType:
    """Import ``module``, or say which nervosum extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = LIBRARIES[format][2]
        raise ModelDefinitionError(
            f"reading {LIBRARIES[format][0]}s needs {module}, which is not installed ({exc})",
            hint=f"pip install 'nervosum[{extra}]'",
        ) from exc
