"""The project at a path: its nervosum.yaml read and validated, or, for a folder without
one, the nervosum.yaml its layout implies (:mod:`nervosum.detect`), and for a
model file named as the path, the one the file implies (issue 21).

It sits above ``model/`` because inferring settings means reading model files, and
below every front end, which all start here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from nervosum.config.load import (
    DEFAULT_CONFIG,
    Project,
    inferred_label,
    read_config_file,
    validated_project,
)
from nervosum.config.yaml_lines import YamlDocument
from nervosum.detect import Detected, infer
from nervosum.errors import ConfigError, ConfigIssue

__all__ = ["load_config"]


def _project_of(folder: Path, config: str | Path) -> Path:
    """``folder``, or its ``app/`` when ``folder`` is a built bundle (``manifest.json``
    beside ``app/``), so a bundle's folder serves like the project it holds."""
    bundled = folder / "app"
    if (
        not (folder / config).is_file()
        and (folder / "manifest.json").is_file()
        and bundled.is_dir()
    ):
        return bundled
    return folder


def _inferred(root: Path) -> Detected | None:
    """[compat] The nervosum.yaml a seed project's layout implies (issue 19), so a
    microservice-template checkout or a module with ``def predict(data)`` serves with
    no file added. None for folders no detector recognises.

    Detectors name a project after its folder; a built bundle's ``app/`` keeps the name
    it was built with (its manifest's), so the served model is not called "app".
    """
    detected = infer(root)
    if detected is None:
        return None
    mapping = detected.config
    manifest = root.parent / "manifest.json"
    if root.name == "app" and manifest.is_file():
        built = json.loads(manifest.read_text(encoding="utf-8")).get("name")
        mapping["name"] = built or mapping["name"]
    return detected


def _model_file(path: Path) -> tuple[dict[str, Any], str]:
    """The mapping a model file (or an MLflow ``MLmodel`` file) implies, and what it was
    inferred from (issue 21)."""
    from nervosum.model.files.read import infer_mapping

    return infer_mapping(path.resolve()), f"the model file {path.name}"


def load_config(project_dir: str | Path = ".", config: str | Path = DEFAULT_CONFIG) -> Project:
    """Load and validate ``project_dir/config`` (an absolute ``config`` wins, as in the seed).

    Without a nervosum.yaml, a folder laid out as a seed project the detectors recognise
    is validated from the mapping they infer, exactly as if it had been written. So is a
    model file named instead of a folder: its folder is the project, the file the artifact.
    """
    given = Path(project_dir)
    if given.is_file() and given.suffix in (".yaml", ".yml") and config == DEFAULT_CONFIG:
        return load_config(given.parent, given.name)  # the config file named as the path
    if given.is_file():
        root, path = given.parent, given.parent / DEFAULT_CONFIG
        data, basis = _model_file(given)
        doc = YamlDocument(data, {}, [])
        project = validated_project(
            root, path, data, doc, shown=inferred_label(root, basis), basis=basis
        )
        from nervosum.model.files.formats import MLMODEL

        if given.name == MLMODEL:  # the MLflow folder is the project, all of it
            return project
        return replace(project, only_file=given.name)
    root = _project_of(given, config)
    path = root / config
    shown = str(path)
    if not root.is_dir():
        raise ConfigError(shown, [ConfigIssue("", f"project directory {root} does not exist")])
    inferred = None
    if not path.is_file() and Path(config) == Path(DEFAULT_CONFIG):
        inferred = _inferred(root)
    if inferred is not None:
        data, doc = inferred.config, YamlDocument(inferred.config, {}, [])
        shown = inferred_label(root, inferred.basis)
    elif path.is_file():
        data, doc = read_config_file(path)
    else:
        hint = "pass -c PATH, or create one with `nervosum init NAME`"
        raise ConfigError(shown, [ConfigIssue("", "config file not found", None, hint)])
    basis = inferred.basis if inferred is not None else ""
    return validated_project(root, path, data, doc, shown=shown, basis=basis)
