"""A loaded model: the user's object and the calls nervosum makes on it, whatever its form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nervosum.config.spec import SchemaField
from nervosum.model.files import ModelFile
from nervosum.model.runner import Runner

Call = Callable[[Any], Any]


@dataclass(frozen=True)
class LoadedModel:
    """The user's object and the calls nervosum makes on it.

    A model file also has its :class:`Runner` (what serves it: the original library or
    ONNX Runtime), the file as read, and what compiling it found, for /info.
    """

    instance: Any
    label: str  # e.g. "model.model.IrisModel" or "model.joblib", for messages
    predict: Call
    predict_proba: Call | None
    classes: tuple[str, ...] | None
    per_record: bool  # transform_predict: one call per record, a dict back
    source: Path | None  # the file that defines or holds the model
    runner: Runner | None = None
    model_file: ModelFile | None = None
    compile_info: dict[str, Any] | None = None
    # The columns handed to a model file, in its order (None: the input schema's).
    fields: tuple[SchemaField, ...] | None = None
