"""A model file served as it is: read by its own library, compiled when it can be.

``model.artifact`` names a scikit-learn pickle, a native XGBoost or LightGBM file, an
ONNX file or an MLflow model folder (``model/files/``); ``compile/`` converts it to ONNX
and serves the conversion only when it answers like the original on the reference rows.
The notebook pipeline's ``stages.json`` is an artifact too, composed from its stages.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from nervosum.config import ModelSpec, Project
from nervosum.config.types import Record
from nervosum.model.classes import class_names, is_classifier
from nervosum.model.fields import compile_fields, served_fields
from nervosum.model.imports import prepare_path
from nervosum.model.loaded import LoadedModel
from nervosum.model.stages import STAGES_FILE, frame_call, load_stages

log = logging.getLogger("nervosum.model")


def compile_summary(info: dict[str, Any], runtime: str) -> str:
    """One startup-log line: what serves the file, and why when it is not compiled."""
    if info.get("mode") == "off":
        return f"served by {runtime} (model.compile: off)"
    if info.get("reason"):
        return f"served by {runtime}, not compiled: {info['reason']}"
    said = [f"served by {runtime}"]
    if info.get("cache") == "hit":
        said.append("conversion from the cache")
    elif info.get("convert_seconds") is not None:
        said.append(f"converted in {info['convert_seconds']:.2f}s")
    check = info.get("check") or {}
    if check:
        figures = [
            f"{name} {check[key]:.2g}"
            for name, key in (
                ("probability", "max_probability_diff"),
                ("value", "max_value_rel_diff"),
            )
            if check.get(key) is not None
        ]
        said.append(
            f"answers checked on {check.get('rows')} rows"
            + (f" (largest difference: {', '.join(figures)})" if figures else "")
        )
    return "; ".join(said)


def example_rows(project: Project) -> list[Record]:
    """The declared example row, when every input field has an example."""
    fields = project.config.input_schema
    if fields and all(f.example is not None for f in fields):
        return [{f.name: f.example for f in fields}]
    return []


def _load_stages(project: Project, spec: ModelSpec, path: Path) -> LoadedModel:
    """[compat] nachlass: stages.json lists the stages `nervosum notebooks build` saved."""
    from nervosum.model.files.pickled import load_pickle

    load = functools.partial(load_pickle, project_dir=project.project_dir, src_dir=project.src_dir)
    obj = load_stages(path, load)
    proba = obj.predict_proba if spec.probabilities and is_classifier(obj) else None
    return LoadedModel(
        instance=obj,
        label=spec.artifact or path.name,
        predict=frame_call(obj, obj.predict),
        predict_proba=frame_call(obj, proba) if proba else None,
        classes=class_names(obj) if proba else None,
        per_record=False,
        source=path,
    )


def load_artifact(project: Project, spec: ModelSpec, *, threads: int | None = None) -> LoadedModel:
    """A model file served as it is: read by its own library, compiled to ONNX when the
    conversion answers like the original (``model.compile``)."""
    from nervosum.model.compile import compile_model, onnx_threads
    from nervosum.model.files.read import read_model_file

    assert spec.artifact is not None
    path = project.src_dir / spec.artifact
    prepare_path(project.project_dir, project.src_dir)  # pickles may reference user modules
    if path.name == STAGES_FILE:
        return _load_stages(project, spec, path)
    model_file = read_model_file(
        path,
        spec.format,
        project_dir=project.project_dir,
        src_dir=project.src_dir,
        probabilities=spec.probabilities,
    )
    for note in model_file.notes:
        log.info("%s", note)
    declared = project.config.input_schema
    compiled = compile_model(
        model_file,
        compile_fields(declared, model_file),
        spec.compile,
        project_dir=project.project_dir,
        threads=threads if threads is not None else onnx_threads(1),
        example_rows=example_rows(project),
    )
    runner = compiled.runner
    log.info("%s: %s", spec.artifact, compile_summary(compiled.info, runner.runtime))
    classifier = runner.classes is not None and spec.probabilities
    return LoadedModel(
        instance=model_file.model,
        label=spec.artifact,
        predict=lambda inputs: runner.run(inputs, False)[0],
        predict_proba=(lambda inputs: runner.run(inputs, True)[1]) if classifier else None,
        classes=runner.classes if classifier else None,
        per_record=False,
        source=path,
        runner=runner,
        model_file=model_file,
        compile_info=compiled.info,
        fields=served_fields(declared, model_file),
    )
