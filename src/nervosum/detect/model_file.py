"""A folder holding one model file and no code: the file is the model (issue 21), so a
serve-repo folder or a graph step can be just ``model.joblib`` or ``model.onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nervosum.config.spec import name_from
from nervosum.model.files.formats import model_file_in


def detect(folder: Path) -> dict[str, Any] | None:
    """The nervosum.yaml mapping of the folder's one model file; None when it has none or
    several (name the file, or write a nervosum.yaml)."""
    path = model_file_in(folder)
    if path is None:
        return None
    from nervosum.model.files.read import infer_mapping

    mapping = infer_mapping(path.resolve())
    mapping["name"] = name_from(folder.resolve().name)  # the folder names the model
    return mapping
