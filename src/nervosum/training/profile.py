"""The reference profile ``nervosum train`` leaves for live drift (docs/monitoring.md).

A training project's data comes from ``DataLoader.load_data``, code rather than a file
``monitoring.reference`` could name, so without this a trained model had no reference.
Train has the rows at hand: it profiles the loaded features (and the trained model's
predictions on them) into ``reference-profile.json`` beside the artifact (like it, made
again by every run and kept out of git), where ``nervosum serve`` reads it and ``nervosum
build`` keeps it in the bundle. A project that names ``monitoring.reference`` gets no
trained profile: build and serve profile the named file, which wins. ``nervosum notebooks
build`` writes the rows its notebooks trained on the same way (notebooks/reference.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from nervosum.config import Project
from nervosum.drift.profile import make_profile, trained_profile_path
from nervosum.drift.reference import bounded
from nervosum.engine import Engine

SOURCE = "nervosum train: DataLoader.load_data"


def _engine(project: Project) -> Engine:
    """The trained model, loaded as the server loads it, without the startup log's line
    on how a server would run it: train's output is its own report, stderr its errors."""
    logger = logging.getLogger("nervosum.model")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return Engine.load(project)
    finally:
        logger.setLevel(level)


def write_training_profile(
    project: Project, inputs: pd.DataFrame, source: str = SOURCE
) -> Path | None:
    """Profile ``inputs`` (the loaded rows' features, bounded as a reference file's rows)
    against the model ``project`` now serves, saying they came from ``source``; the file
    written, or None when ``monitoring.reference`` names one (or the model has no
    artifact to keep it beside)."""
    path = trained_profile_path(project)
    if path is None or project.config.monitoring.reference is not None:
        return None
    profile = make_profile(_engine(project), bounded(inputs), source)
    profile.write(path)
    return path
