"""The built result as an ordinary nervosum project folder, servable as it is.

    <project>/
      nervosum.yaml       name, tag, model: {artifact: stages.json}, requirements
      stages.json         [["<notebook>.ipynb", "<basename>.sav"], ...]
      <basename>.sav      each notebook's saved stage
      <notebook>.ipynb    each notebook as executed, outputs included, for inspection
      requirements.txt    the repository's packages by name, plus scikit-learn, cloudpickle
      **/*.py             the repository's Python code: stages may refer to its classes
      reference-profile.json  live drift's reference, of the rows a notebook trained on

Being a plain project, it is served by ``nervosum serve`` and bundled by the same code
as ``nervosum build``; nothing downstream knows it came from notebooks.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from nervosum.build.ignore import ALWAYS_IGNORED, IgnoreRules, parse_rules, project_files
from nervosum.build.progress import Progress
from nervosum.config import DEFAULT_CONFIG, Project
from nervosum.model.stages import STAGES_FILE
from nervosum.notebooks.requirements import REQUIREMENTS_FILE
from nervosum.project import load_config


def copy_code(source: Path, target: Path) -> int:
    """Copy the repository's ``.py`` files into ``target`` (same relative paths): a stage
    pickled from an instance of a repository class is loaded by importing that class.
    Returns how many were copied."""
    rules = IgnoreRules(parse_rules(ALWAYS_IGNORED))
    copied = 0
    for relative in project_files(source, rules):
        if relative.suffix == ".py":
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, destination)
            copied += 1
    return copied


def write_config(
    target: Path, *, name: str, tag: str, origin: str, predictions: str | None = None
) -> Project:
    """Write ``nervosum.yaml`` and load it back (validated as any project's)."""
    config: dict[str, Any] = {
        "name": name,
        "tag": tag,
        "model": {"artifact": STAGES_FILE},
        "requirements": REQUIREMENTS_FILE,
    }
    if predictions is not None:
        config["metrics"] = {"predictions": predictions}
    header = f"# Written by `nervosum notebooks build` from {origin}.\n"
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    (target / DEFAULT_CONFIG).write_text(header + text, encoding="utf-8")
    return load_config(target)


def last_stage_kind(project: Project) -> str:
    """Load the composed stages as the server will, and say what the last one is:
    ``classifier``, ``regressor`` or ``other`` (a failed load is the server's error)."""
    from sklearn.base import is_classifier, is_regressor

    from nervosum.model.handle import ModelHandle

    pipeline = ModelHandle.load(project).loaded.instance
    if is_classifier(pipeline):
        return "classifier"
    if is_regressor(pipeline):
        return "regressor"
    return "other"


def finish_project(
    target: Path, *, name: str, tag: str, origin: str, progress: Progress
) -> Project:
    """Write the config of a folder that holds the stages, check the stages load and
    compose, and turn prediction metrics off when the last stage predicts neither a
    class nor a value (nachlass failed every request then)."""
    project = write_config(target, name=name, tag=tag, origin=origin)
    kind = last_stage_kind(project)
    if kind == "other":
        progress.step(
            "the stages load; the last is neither a classifier nor a regressor, so it is"
            " served without prediction metrics"
        )
        project = write_config(target, name=name, tag=tag, origin=origin, predictions="off")
    else:
        progress.step(f"the stages load; the last is a {kind}")
    return project
