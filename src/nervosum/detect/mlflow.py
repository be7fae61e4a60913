"""A folder MLflow saved a model in (an ``MLmodel`` file beside the model's files): the
signature is the schema, the folder's ``requirements.txt`` what a bundle installs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nervosum.model.files.formats import MLMODEL

__all__ = ["MLMODEL", "detect"]


def detect(folder: Path) -> dict[str, Any] | None:
    """The nervosum.yaml mapping of an MLflow model folder; None for any other folder.
    A folder whose MLmodel cannot be served raises the model file's one-line error."""
    if not (folder / MLMODEL).is_file():
        return None
    from nervosum.model.files.read import infer_mapping

    return infer_mapping(folder.resolve())
